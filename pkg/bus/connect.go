package bus

import (
	"log/slog"

	"github.com/nats-io/nats.go"
)

// ConnectOptions are the options every service connects to NATS with:
// named name, reconnecting forever, and saying in log when the connection
// is lost and when it is back, so that an operator sees a NATS outage in
// each service's log. The server's address is logged, never the URL, which
// may hold credentials.
func ConnectOptions(name string, log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS connection lost; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS connection back", "server", nc.ConnectedAddr())
		}),
	}
}
