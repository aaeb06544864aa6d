// Command crm-consumer is the reference downstream consumer of Lethe: the code a CRM team
// copies. It attaches a durable consumer to LETHE_RESULTS with its bus user's credentials,
// erases each anonymised or deleted contact from its own store (here a toy JSON file), and
// confirms the erasure to Lethe with lethe.erasure.confirmed.v1 — over HTTP with its token,
// or on its own inbox subject — acknowledging the outcome only once both are done, so that
// a crash anywhere makes JetStream deliver the outcome again and the work is redone (erasing
// and confirming twice is harmless).
//
//	crm-consumer --nats-url nats://127.0.0.1:4222 --user crm-a --institution inst-a \
//	    --destination crm-a --store crm.json --confirm http --lethe-url http://127.0.0.1:8080
//
// Secrets come from the environment: CRM_NATS_PASSWORD, and CRM_LETHE_TOKEN for --confirm http.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type config struct {
	NATSURL, User, Password  string
	Institution, Destination string
	Store, Confirm           string
	LetheURL, Token, Source  string
	AckWait                  time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.NATSURL, "nats-url", "nats://127.0.0.1:4222", "Lethe's NATS server")
	flag.StringVar(&c.User, "user", "", "this CRM's bus user (role consumer in lethe.yaml)")
	flag.StringVar(&c.Institution, "institution", "", "the institution whose outcomes to follow")
	flag.StringVar(&c.Destination, "destination", "", "the destination this CRM is in lethe.yaml (destinations[].name)")
	flag.StringVar(&c.Store, "store", "crm.json", "the toy store: a JSON object of contact id → record")
	flag.StringVar(&c.Confirm, "confirm", "http", "how to confirm: http (POST /v1/events with CRM_LETHE_TOKEN) or nats (lethe.inbox.<institution>.<destination>)")
	flag.StringVar(&c.LetheURL, "lethe-url", "http://127.0.0.1:8080", "Lethe's HTTP API, for --confirm http")
	flag.StringVar(&c.Source, "source", "/crm-consumer", "the CloudEvents source of the confirmations")
	flag.DurationVar(&c.AckWait, "ack-wait", 30*time.Second, "how long an outcome may take before JetStream delivers it again")
	flag.Parse()
	c.Password, c.Token = os.Getenv("CRM_NATS_PASSWORD"), os.Getenv("CRM_LETHE_TOKEN")
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, log); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("crm-consumer stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, log *slog.Logger) error {
	if c.User == "" || c.Institution == "" || c.Destination == "" {
		return errors.New("--user, --institution and --destination are required")
	}
	if c.Confirm != "http" && c.Confirm != "nats" {
		return fmt.Errorf("--confirm %q: http or nats", c.Confirm)
	}
	store, err := openStore(c.Store)
	if err != nil {
		return err
	}
	// Lethe's bus lets a user subscribe only under its own reply prefix.
	nc, err := nats.Connect(c.NATSURL, nats.UserInfo(c.User, c.Password), nats.CustomInboxPrefix("_INBOX."+c.User), nats.Name("crm-consumer "+c.User))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.NATSURL, err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var confirm confirmer
	if c.Confirm == "http" {
		confirm = httpConfirmer(c.LetheURL, c.Token)
	} else {
		confirm = natsConfirmer(js, c.Institution, c.Destination)
	}
	// The durable is <user>_<institution>, filtered to the institution's outcomes: the only
	// consumer Lethe's bus lets this user create. It remembers where it is across restarts.
	cons, err := js.CreateOrUpdateConsumer(ctx, "LETHE_RESULTS", jetstream.ConsumerConfig{
		Durable:       c.User + "_" + c.Institution,
		FilterSubject: "lethe.result." + c.Institution + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    -1, // an erasure is never given up on
	})
	if err != nil {
		return fmt.Errorf("attach to LETHE_RESULTS: %w", err)
	}
	h := handler{store: store, confirm: confirm, source: c.Source, destination: c.Destination, log: log}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := h.handle(ctx, m); err != nil {
			log.Warn("outcome not handled; it will come again", "error", err)
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return err
	}
	defer cc.Stop()
	log.Info("following LETHE_RESULTS", "institution", c.Institution, "destination", c.Destination, "confirm", c.Confirm)
	<-ctx.Done()
	return ctx.Err()
}
