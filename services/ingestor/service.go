package ingestor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/services/ingestor/internal/admin"
)

// natsFlushTimeout bounds the wait for the server to confirm the last
// messages when the connection closes.
const natsFlushTimeout = 5 * time.Second

// Service is a running ingestor.
type Service struct {
	cfg      Config
	log      *slog.Logger
	nc       *nats.Conn
	store    *store.Store
	keys     *apikey.Verifier
	server   *http.Server
	listener net.Listener
	admin    *telemetry.AdminServer
	draining atomic.Bool

	// adminAPI and adminAPIListener serve the admin API; nil when it is off.
	adminAPI         *http.Server
	adminAPIListener net.Listener
}

// adminTokens returns the configured admin tokens.
func (c Config) adminTokens() admin.Tokens {
	return admin.Tokens{Admin: c.AdminTokens, ReadOnly: c.AdminReadOnlyTokens}
}

// New connects to NATS and the database, makes sure the streams exist and
// opens the ingestor's ports. It fails early when any of that fails.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log}
	if err := s.connect(ctx); err != nil {
		s.close()
		return nil, err
	}
	if err := s.listen(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *Service) connect(ctx context.Context) error {
	if s.cfg.Migrate {
		if err := store.Migrate(s.cfg.DatabaseURL); err != nil {
			return err
		}
	}
	var err error
	s.store, err = store.Open(ctx, s.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if err := s.store.WaitForSchema(ctx, func(have, want uint) {
		s.log.InfoContext(ctx, "waiting for the database migrations", "schema_version", have, "needed", want)
	}); err != nil {
		return err
	}
	s.nc, err = nats.Connect(s.cfg.NATSURL, bus.ConnectOptions("zenith-ingestor", s.log)...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", s.cfg.NATSURL, err)
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}
	if err := bus.EnsureStreams(ctx, js, s.cfg.Streams); err != nil {
		return err
	}
	if err := s.applyConfig(ctx); err != nil {
		return err
	}

	s.keys = apikey.NewVerifier(s.store.LookupKey, s.cfg.KeyRevalidate, apikey.WithUseRecorder(s.recordKeyUse))
	if _, err := s.nc.Subscribe(bus.ChangesSubject, func(*nats.Msg) { s.keys.Invalidate() }); err != nil {
		return fmt.Errorf("subscribe to configuration changes: %w", err)
	}
	s.server = &http.Server{
		Handler:           s.routes(&publisher{js: js, timeout: s.cfg.PublishTimeout, log: s.log}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		Protocols:         serverProtocols(),
	}
	s.setUpAdminAPI(js)
	return nil
}

// recordKeyUse notes that a key verified. The Verifier calls it at most once
// per key and revalidation interval, so it costs one small write per key
// every few seconds, not one per request.
func (s *Service) recordKeyUse(ctx context.Context, keyID string) {
	if err := s.store.TouchKey(ctx, keyID); err != nil {
		s.log.WarnContext(ctx, "api key use not recorded", "key_id", keyID, "err", err)
	}
}

// setUpAdminAPI builds the admin API's server when tokens are configured.
func (s *Service) setUpAdminAPI(js jetstream.JetStream) {
	tokens := s.cfg.adminTokens()
	if tokens.Empty() {
		return
	}
	mux := http.NewServeMux()
	srv := admin.New(s.store, s.nc, js, s.log)
	path, handler := srv.Handler(tokens)
	mux.Handle(path, oneContentType(handler, nil))
	s.adminAPI = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		Protocols:         serverProtocols(),
	}
}

// applyConfig applies the configuration file ZENITH_CONFIG names, if any,
// and tells every replica when it changed something.
func (s *Service) applyConfig(ctx context.Context) error {
	if s.cfg.ConfigPath == "" {
		return nil
	}
	file, err := config.Load(s.cfg.ConfigPath)
	if err != nil {
		return err
	}
	report, err := config.Apply(ctx, s.store, file, config.Options{})
	if err != nil {
		return fmt.Errorf("apply %s: %w", s.cfg.ConfigPath, err)
	}
	s.log.InfoContext(ctx, "configuration applied", "path", s.cfg.ConfigPath, "changes", report.Lines())
	if report.Changed() {
		return bus.AnnounceChange(s.nc)
	}
	return nil
}

// serverProtocols serves HTTP/1.1 and HTTP/2 without TLS (h2c), so one port
// takes gRPC, gRPC-Web, Connect and plain JSON.
func serverProtocols() *http.Protocols {
	p := &http.Protocols{}
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// routes serves producers. Both endpoints share one rate limiter, so a key
// has one budget whichever protocol it uses.
func (s *Service) routes(pub *publisher) http.Handler {
	mux := http.NewServeMux()
	limiter := newKeyLimiter(s.cfg.RateLimit, s.cfg.RateBurst)
	rpc := &rpcHandler{keys: s.keys, limiter: limiter, pub: pub, log: s.log, nowClock: time.Now}
	opts := append(codecs(),
		connect.WithReadMaxBytes(int(s.cfg.MaxDecompressedBytes)),
		connect.WithCompression("gzip", newBoundedGzip(s.cfg.MaxDecompressedBytes), newGzipWriter),
	)
	path, handler := zenithv1connect.NewIngestorServiceHandler(rpc, opts...)
	mux.Handle(path, oneContentType(limitBody(s.cfg.MaxBodyBytes, handler), countRefusedRPC))
	mux.Handle("POST /v1/events", &restHandler{
		keys: s.keys, limiter: limiter, pub: pub,
		maxBody: s.cfg.MaxBodyBytes, maxDecompressed: s.cfg.MaxDecompressedBytes,
		log: s.log, nowClock: time.Now,
	})
	mux.HandleFunc("/v1/events", methodNotAllowed)
	return traced(mux)
}

func (s *Service) listen() error {
	var err error
	s.listener, err = net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (INGESTOR_ADDR moves it)", s.cfg.ListenAddr, err)
	}
	s.admin, err = telemetry.ListenAdmin(s.cfg.AdminAddr, s.ready)
	if err != nil {
		return fmt.Errorf("%w (INGESTOR_ADMIN_ADDR moves it)", err)
	}
	if s.adminAPI == nil {
		return nil
	}
	s.adminAPIListener, err = net.Listen("tcp", s.cfg.AdminAPIAddr)
	if err != nil {
		return fmt.Errorf("admin API: listen on %s: %w (INGESTOR_ADMIN_API_ADDR moves it)", s.cfg.AdminAPIAddr, err)
	}
	return nil
}

// AdminAPIAddr is the address of the admin API, empty when it is off.
func (s *Service) AdminAPIAddr() string {
	if s.adminAPIListener == nil {
		return ""
	}
	return s.adminAPIListener.Addr().String()
}

// Addr is the address producers connect to.
func (s *Service) Addr() string {
	return s.listener.Addr().String()
}

// AdminAddr is the address of /metrics, /healthz and /readyz.
func (s *Service) AdminAddr() string {
	return s.admin.Addr()
}

// ready reports whether the ingestor can accept events.
func (s *Service) ready(ctx context.Context) error {
	switch {
	case s.draining.Load():
		return errors.New("shutting down")
	case !s.nc.IsConnected():
		return errors.New("not connected to NATS")
	}
	return s.store.Ping(ctx)
}

// Run serves until ctx is cancelled, then stops taking requests, lets those
// in flight finish within the shutdown grace, and closes its connections.
func (s *Service) Run(ctx context.Context) error {
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	go s.admin.Serve(adminCtx, s.log)

	served := make(chan error, 2)
	go func() { served <- s.server.Serve(s.listener) }()
	s.log.Info("ingestor listening", "addr", s.Addr(), "admin_addr", s.AdminAddr())
	if s.adminAPI != nil {
		go func() { served <- s.adminAPI.Serve(s.adminAPIListener) }()
		s.log.Info("admin API listening", "addr", s.AdminAPIAddr())
	} else {
		s.log.Warn("admin API off: set ZENITH_ADMIN_TOKENS to serve it")
	}

	select {
	case err := <-served:
		// One server failed: stop the other too, so that Run leaves nothing
		// serving.
		_ = s.server.Close()
		if s.adminAPI != nil {
			_ = s.adminAPI.Close()
		}
		s.close()
		return fmt.Errorf("ingestor server stopped: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(ctx)
}

func (s *Service) shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.log.Info("ingestor draining")
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
	defer cancel()
	err := s.server.Shutdown(graceCtx)
	if s.adminAPI != nil {
		err = errors.Join(err, s.adminAPI.Shutdown(graceCtx))
	}
	s.close()
	if err != nil {
		return fmt.Errorf("ingestor shutdown: %w", err)
	}
	s.log.Info("ingestor stopped")
	return nil
}

func (s *Service) close() {
	if s.nc != nil {
		if err := bus.Close(s.nc, natsFlushTimeout); err != nil {
			s.log.Warn("close NATS connection", "err", err)
		}
	}
	if s.store != nil {
		s.store.Close()
	}
}
