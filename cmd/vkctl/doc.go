// Command vkctl is the command-line client of vkinferd:
//
//	vkctl prompt [-m MODEL] [flags] TEXT   stream a completion (TEXT or stdin)
//	vkctl embed -m MODEL TEXT...           print embeddings as JSON
//	vkctl models | ps | status             what the daemon has and does
//	vkctl load MODEL | unload MODEL        move a model in or out of memory
//	vkctl ping                             check the daemon answers
//
// Exit codes: 0 success, 1 the daemon refused or failed the request,
// 2 usage error, 3 daemon not running, 130 interrupted (Ctrl-C, which also
// cancels the request in the daemon).
package main
