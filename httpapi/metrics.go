package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vkinfer/vkinfer/ipc"
)

// Metrics is an ipc.Handler that counts the requests of both protocols on
// their way to the handler it wraps, and reads the daemon's state (queues,
// loaded models, memory, breakers) from its Status at each scrape. The
// daemon gives it to ipc.Server and to this package's Server alike.
type Metrics struct {
	next     ipc.Handler
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	ttft     prometheus.Histogram
	tps      prometheus.Histogram
	http     *prometheus.CounterVec
}

// NewMetrics wraps next.
func NewMetrics(next ipc.Handler) *Metrics {
	m := &Metrics{
		next: next,
		reg:  prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkinfer_requests_total",
			Help: "Requests served, by op (generate, embed, models, load, unload, status, tokenize, detokenize) and outcome (ok or the error code), msgpack and HTTP alike.",
		}, []string{"op", "outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkinfer_tokens_total",
			Help: "Tokens of finished generations: in (prompt, cached included), cached, and out (generated); and embedded, the tokens embed requests ran.",
		}, []string{"direction"}),
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vkinfer_time_to_first_token_seconds",
			Help:    "Time from a generation's start (after queueing and loading) to its first token.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		tps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vkinfer_generation_tokens_per_second",
			Help:    "Generation speed of finished generations.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vkinfer_http_requests_total",
			Help: "HTTP requests, by endpoint (other for unknown paths) and HTTP status.",
		}, []string{"path", "status"}),
	}
	m.reg.MustRegister(m.requests, m.tokens, m.ttft, m.tps, m.http, stateCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) count(op string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = ipc.CodeOf(err)
	}
	m.requests.WithLabelValues(op, outcome).Inc()
}

// httpRequest counts one HTTP request by its endpoint and status.
func (m *Metrics) httpRequest(path string, known bool, err error) {
	if !known {
		path = "other"
	}
	status := http.StatusOK
	if err != nil {
		status = statusOf(asError(err).Code)
	}
	m.http.WithLabelValues(path, strconv.Itoa(status)).Inc()
}

var _ ipc.TokenHandler = (*Metrics)(nil)

// Generate implements ipc.Handler.
func (m *Metrics) Generate(ctx context.Context, req *ipc.Request, emit func(ipc.Chunk) error) (*ipc.Stats, error) {
	st, err := m.next.Generate(ctx, req, emit)
	m.count(ipc.OpGenerate, err)
	if err == nil && st != nil {
		m.tokens.WithLabelValues("in").Add(float64(st.PromptTokens))
		m.tokens.WithLabelValues("cached").Add(float64(st.CachedTokens))
		m.tokens.WithLabelValues("out").Add(float64(st.GeneratedTokens))
		if st.GeneratedTokens > 0 {
			m.ttft.Observe(time.Duration(st.FirstTokenNs).Seconds())
		}
		if st.GenerationTPS > 0 {
			m.tps.Observe(st.GenerationTPS)
		}
	}
	return st, err
}

// Embed implements ipc.Handler.
func (m *Metrics) Embed(ctx context.Context, req *ipc.Request) (ipc.EmbedResult, error) {
	res, err := m.next.Embed(ctx, req)
	m.count(ipc.OpEmbed, err)
	if err == nil {
		m.tokens.WithLabelValues("embedded").Add(float64(res.PromptTokens))
	}
	return res, err
}

// Tokenize implements ipc.TokenHandler for a handler that answers it.
func (m *Metrics) Tokenize(ctx context.Context, req *ipc.Request) ([]int32, error) {
	th, ok := m.next.(ipc.TokenHandler)
	if !ok {
		return nil, ipc.Errorf(ipc.CodeUnknownOp, "this server does not answer %s", ipc.OpTokenize)
	}
	ids, err := th.Tokenize(ctx, req)
	m.count(ipc.OpTokenize, err)
	return ids, err
}

// Detokenize implements ipc.TokenHandler for a handler that answers it.
func (m *Metrics) Detokenize(ctx context.Context, req *ipc.Request) (string, error) {
	th, ok := m.next.(ipc.TokenHandler)
	if !ok {
		return "", ipc.Errorf(ipc.CodeUnknownOp, "this server does not answer %s", ipc.OpDetokenize)
	}
	text, err := th.Detokenize(ctx, req)
	m.count(ipc.OpDetokenize, err)
	return text, err
}

// Models implements ipc.Handler.
func (m *Metrics) Models(ctx context.Context) ([]ipc.ModelInfo, error) {
	v, err := m.next.Models(ctx)
	m.count(ipc.OpModels, err)
	return v, err
}

// Load implements ipc.Handler.
func (m *Metrics) Load(ctx context.Context, req *ipc.Request) error {
	err := m.next.Load(ctx, req)
	m.count(ipc.OpLoad, err)
	return err
}

// Unload implements ipc.Handler.
func (m *Metrics) Unload(ctx context.Context, req *ipc.Request) error {
	err := m.next.Unload(ctx, req)
	m.count(ipc.OpUnload, err)
	return err
}

// Status implements ipc.Handler.
func (m *Metrics) Status(ctx context.Context) (*ipc.Status, error) {
	v, err := m.next.Status(ctx)
	m.count(ipc.OpStatus, err)
	return v, err
}

// metrics serves GET /metrics in the Prometheus text format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.cfg.Metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

var (
	descQueued  = prometheus.NewDesc("vkinfer_queue_depth", "Requests waiting for a worker, by model.", []string{"model"}, nil)
	descRunning = prometheus.NewDesc("vkinfer_running_requests", "Requests being served, by model.", []string{"model"}, nil)
	descLoaded  = prometheus.NewDesc("vkinfer_loaded_models", "Models with at least one worker.", nil, nil)
	descModel   = prometheus.NewDesc("vkinfer_model_memory_bytes", "Memory a loaded model is charged, by model.", []string{"model"}, nil)
	descUsed    = prometheus.NewDesc("vkinfer_memory_used_bytes", "Memory charged to loaded models, by device.", []string{"device"}, nil)
	descBudget  = prometheus.NewDesc("vkinfer_memory_budget_bytes", "The memory budget, by device (0 = unlimited).", []string{"device"}, nil)
	descBreaker = prometheus.NewDesc("vkinfer_breaker_state", "1 for each model's current load-breaker state.", []string{"model", "state"}, nil)
)

// stateCollector reads the daemon's state at each scrape, from the
// wrapped handler's Status (not counted as a request).
type stateCollector struct{ m *Metrics }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descRunning, descLoaded, descModel, descUsed, descBudget, descBreaker} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.m.next.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descLoaded, err)
		return
	}
	loaded := 0
	for _, p := range st.Pools {
		for _, m := range p.Models {
			ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(m.Queued), m.Name)
			ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(m.Running), m.Name)
			ch <- prometheus.MustNewConstMetric(descModel, prometheus.GaugeValue, float64(m.Memory), m.Name)
			if m.Breaker != "" {
				ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, 1, m.Name, m.Breaker)
			}
			if m.Workers > 0 {
				loaded++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, float64(loaded))
	for _, mem := range st.Memory {
		ch <- prometheus.MustNewConstMetric(descUsed, prometheus.GaugeValue, float64(mem.Used), mem.Device)
		ch <- prometheus.MustNewConstMetric(descBudget, prometheus.GaugeValue, float64(mem.Limit), mem.Device)
	}
}
