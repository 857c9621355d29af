package httpapi

import "net/http"

// health serves GET /health: 200 while the daemon serves, 503 once it
// drains for shutdown.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	if s.isDraining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting_down"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
