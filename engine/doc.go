// Package engine runs one generation request against one model session:
// it validates the request, renders chat messages through the model's
// template, tokenizes, reuses the session's KV cache for a shared prompt
// prefix, prefills the rest in batches, then decodes token by token
// (sample, detokenize with incomplete UTF-8 held back, apply stop rules)
// and streams chunks to a callback. It reports counts and timings in a
// Result and keeps daemon-wide Metrics.
//
// An Engine owns its session and is not safe for concurrent use: the pool
// gives each worker its own Engine.
package engine
