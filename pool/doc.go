// Package pool keeps loaded models and routes requests to them, one pool
// per capability: TextToText (prompt → stream of chunks) and TextEmbedding
// (texts → vectors), both built on the generic Pool.
//
// A pool holds workers per model name. A worker is a goroutine owning one
// loaded model instance, serving requests from its queue. Spawning a worker
// reserves the model's memory in a Budget, evicting idle models of the pool
// (least recently used first) or refusing with ErrNoMemory. Requests go to
// the least busy worker of their model; a model's queue is bounded
// (ErrBusy); idle models unload after a keep-alive; a panic fails only its
// request and the worker's instance is reopened; a model that fails to load
// (or panics) repeatedly is held off for a back-off period (ErrBackoff).
// Every request ends with a result or an error, never a hang.
package pool
