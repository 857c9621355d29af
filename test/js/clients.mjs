// The ollama and openai JavaScript clients against a running vkinferd's
// HTTP API over TCP. TestHTTPJSClients (cmd/vkinferd) starts the daemon
// and sets VKINFER_URL, VKINFER_TOKEN, VKINFER_CHAT_MODEL and
// VKINFER_EXPECT (stories260K's greedy text for "Once upon a time", 16
// tokens).
import assert from "node:assert/strict";
import { Ollama } from "ollama";
import OpenAI from "openai";

const url = process.env.VKINFER_URL;
const token = process.env.VKINFER_TOKEN;
const chatModel = process.env.VKINFER_CHAT_MODEL;
const expect = process.env.VKINFER_EXPECT;
assert.ok(url && token && chatModel && expect, "VKINFER_URL, VKINFER_TOKEN, VKINFER_CHAT_MODEL and VKINFER_EXPECT must be set");

const openai = new OpenAI({ baseURL: url + "/v1", apiKey: token, maxRetries: 0 });
const ollama = new Ollama({ host: url, headers: { Authorization: "Bearer " + token } });

const checks = [
  ["openai completions, greedy", async () => {
    const r = await openai.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 16, temperature: 0 });
    assert.equal(r.choices[0].text, expect);
    assert.equal(r.usage.completion_tokens, 16);
  }],
  ["openai chat, streamed and not", async () => {
    const params = { model: chatModel, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 12, temperature: 0 };
    const whole = await openai.chat.completions.create(params);
    let text = "";
    let usage;
    for await (const chunk of await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } })) {
      text += chunk.choices[0]?.delta?.content ?? "";
      usage = chunk.usage ?? usage;
    }
    assert.ok(whole.choices[0].message.content.length > 0);
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(usage.completion_tokens, 12);
  }],
  ["openai embeddings", async () => {
    const r = await openai.embeddings.create({ model: "all-MiniLM-L6-v2-Q4_K_M", input: ["a sentence", "another"] });
    assert.equal(r.data.length, 2);
    assert.equal(r.data[0].embedding.length, 384);
    // [CLS] a sentence [SEP] and [CLS] another [SEP].
    assert.equal(r.usage.prompt_tokens, 7);
    assert.equal(r.usage.total_tokens, 7);
  }],
  ["openai errors", async () => {
    await assert.rejects(openai.completions.create({ model: "nope", prompt: "x" }), (e) => e.status === 404 && e.code === "unknown_model");
  }],
  ["ollama list, show, version", async () => {
    const { models } = await ollama.list();
    assert.ok(models.some((m) => m.name === "stories260K:latest"));
    const show = await ollama.show({ model: "stories260K" });
    assert.equal(show.details.family, "llama");
    assert.ok((await ollama.version()).version);
  }],
  ["ollama generate, raw and greedy", async () => {
    const r = await ollama.generate({ model: "stories260K", prompt: "Once upon a time", raw: true, options: { temperature: 0, num_predict: 16 } });
    assert.equal(r.response, expect);
    assert.equal(r.done_reason, "length");
    assert.equal(r.eval_count, 16);
  }],
  ["ollama chat, streamed", async () => {
    let text = "";
    let last;
    for await (const part of await ollama.chat({ model: chatModel, messages: [{ role: "user", content: "Once upon a time" }], stream: true, options: { temperature: 0, num_predict: 12 } })) {
      text += part.message.content;
      last = part;
    }
    assert.ok(text.length > 0);
    assert.equal(last.done, true);
    assert.equal(last.eval_count, 12);
  }],
  ["openai json_schema and logprobs", async () => {
    const schema = { type: "object", properties: { size: { enum: ["small", "large"] } }, required: ["size"], additionalProperties: false };
    const r = await openai.chat.completions.create({ model: chatModel, messages: [{ role: "user", content: "Pick." }], max_tokens: 60, temperature: 1, seed: 2,
      response_format: { type: "json_schema", json_schema: { name: "pick", schema } }, logprobs: true, top_logprobs: 2 });
    assert.ok(["small", "large"].includes(JSON.parse(r.choices[0].message.content).size));
    assert.equal(r.choices[0].logprobs.content.map((t) => t.token).join(""), r.choices[0].message.content);
    assert.equal(r.choices[0].logprobs.content.length, r.usage.completion_tokens);
  }],
  ["ollama format, json and a schema", async () => {
    const j = await ollama.chat({ model: chatModel, messages: [{ role: "user", content: "JSON please" }], format: "json", options: { temperature: 1, seed: 1, num_predict: 300 } });
    JSON.parse(j.message.content);
    const schema = { type: "object", properties: { n: { type: "integer", minimum: 1, maximum: 3 } }, required: ["n"], additionalProperties: false };
    const s = await ollama.chat({ model: chatModel, messages: [{ role: "user", content: "A number" }], format: schema, options: { temperature: 1, seed: 1, num_predict: 60 } });
    const n = JSON.parse(s.message.content).n;
    assert.ok(Number.isInteger(n) && n >= 1 && n <= 3, s.message.content);
  }],
  ["ollama embed and ps", async () => {
    const r = await ollama.embed({ model: "all-MiniLM-L6-v2:Q4_K_M", input: "a sentence" });
    assert.equal(r.embeddings[0].length, 384);
    assert.equal(r.prompt_eval_count, 4);
    const ps = await ollama.ps();
    assert.ok(ps.models.some((m) => m.name === "all-MiniLM-L6-v2-Q4_K_M:latest"));
  }],
];

let passed = 0;
let failed = 0;
for (const [name, check] of checks) {
  try {
    await check();
    passed++;
    console.log("ok   " + name);
  } catch (e) {
    failed++;
    console.log("FAIL " + name + ": " + (e?.stack ?? e));
  }
}
console.log(`js clients: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
