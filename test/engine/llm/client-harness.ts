// What the model-client tests share: a scripted local server that closes with the test, a model
// pointed at it whose retries wait a tenth of the real time, one chat turn, and the error a call
// fails with, checked to hold no key.
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig, ModelProvider } from '../../../src/engine/llm/config';
import type { ModelError } from '../../../src/engine/llm/http';
import type { ChatModel, ChatRequest } from '../../../src/engine/llm/model';
import { createChatModel, type ModelAccessOptions } from '../../../src/engine/llm/providers';
import { scaledSleep, startAnthropicServer, startOpenAiServer, type ModelServer, type ScriptEntry } from '../../helpers/model-servers';

export interface HarnessDefaults {
  model: string;
  retries?: number;
  /** The one chat turn `ask` sends. */
  system: string;
  user: string;
  maxTokens: number;
}

export function clientHarness(provider: Exclude<ModelProvider, 'vscode'>, key: string, d: HarnessDefaults) {
  const start = provider === 'anthropic' ? startAnthropicServer : startOpenAiServer;
  return {
    async serve(t: TestContext, script: ScriptEntry[]): Promise<ModelServer> {
      const server = await start(script);
      t.after(() => server.close());
      return server;
    },
    modelFor(server: ModelServer | string, config: Partial<ModelConfig> = {}, opts: ModelAccessOptions = {}): ChatModel {
      const baseUrl = typeof server === 'string' ? server : server.url;
      return createChatModel(
        { provider, model: d.model, baseUrl, retries: d.retries ?? 3, timeouts: { firstByteSeconds: 5, idleSeconds: 5, totalSeconds: 20 }, ...config },
        { apiKey: key, sleep: scaledSleep(0.1), ...opts },
      );
    },
    ask(model: ChatModel, extra: Partial<ChatRequest> = {}) {
      return model.chat({ system: d.system, messages: [{ role: 'user', content: d.user }], maxTokens: d.maxTokens, signal: new AbortController().signal, ...extra });
    },
    async failure(call: Promise<unknown>): Promise<ModelError> {
      try {
        await call;
      } catch (e) {
        const err = e as ModelError;
        assert.ok(!`${err.message} ${err.hint} ${err.stack}`.includes(key), `the key leaked: ${err.message}`);
        return err;
      }
      assert.fail('the call succeeded');
    },
  };
}
