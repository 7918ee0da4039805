package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
)

// RouterDurable is the router's durable consumer on EVENTS.
const RouterDurable = "connectors-router"

// statusOf maps the domain events a store is told about to their status.
var statusOf = map[string]string{
	"OrderAssigned":     StatusAssigned,
	"PickedUp":          StatusPickedUp,
	"DeliveryCompleted": StatusDelivered,
	"DeliveryFailed":    StatusFailed,
	"OrderCancelled":    StatusCancelled,
}

// OriginStore marks an event the store itself caused (payload "origin"): it is not pushed back.
const OriginStore = "store"

// route turns the EVENTS a store wants synced into jobs on OUTBOUND until ctx ends.
func (s *Service) route(ctx context.Context) error {
	filters := make([]string, 0, len(statusOf))
	for t := range statusOf {
		filters = append(filters, "events.*."+t)
	}
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		var err error
		cons, err = s.js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
			Durable:        RouterDurable,
			Description:    "order statuses to the stores' connectors",
			FilterSubjects: filters,
			AckPolicy:      jetstream.AckExplicitPolicy,
			AckWait:        30 * time.Second,
			MaxDeliver:     -1,
			MaxAckPending:  s.cfg.RouterWorkers * 64,
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		})
		if err == nil {
			break
		}
		s.log.Warn().Err(err).Msg("connectors: cannot create the router's consumer; retrying")
		sleep(ctx, time.Second)
	}
	// One lane per worker, an event to the lane of its order: an order's jobs reach OUTBOUND
	// in the order of its events.
	lanes := make([]chan jetstream.Msg, s.cfg.RouterWorkers)
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan jetstream.Msg, 8)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range lanes[i] {
				s.routeOne(ctx, msg)
			}
		}()
	}
	bus.Pull(ctx, cons, 8*len(lanes), s.log, "connectors router",
		bus.Hand(ctx, func(msg jetstream.Msg) chan<- jetstream.Msg {
			return lanes[laneOf(msg.Data(), "aggregate_id", len(lanes))]
		}))
	for _, l := range lanes {
		close(l)
	}
	wg.Wait()
	return nil
}

// eventOrder is what the router reads of an order event's payload.
type eventOrder struct {
	StoreID      string `json:"store_id"`
	ExternalRef  string `json:"external_ref"`
	JobID        string `json:"job_id"`
	DriverID     string `json:"driver_id"`
	Reason       string `json:"reason"`
	CancelReason string `json:"cancel_reason"`
	Origin       string `json:"origin"`
}

// JobOf builds the job of a domain event, or says why there is none (ok false): not a status
// a store is told about, an order of no store, or a cancellation the store made itself.
func JobOf(ev *outbox.Event, carrier, trackingURL string) (Job, bool, error) {
	status, ok := statusOf[ev.Type]
	if !ok || ev.AggregateType != "order" {
		return Job{}, false, nil
	}
	var p eventOrder
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return Job{}, false, fmt.Errorf("%w: event %s payload: %v", ErrInvalidJob, ev.ID, err)
	}
	if p.StoreID == "" || (status == StatusCancelled && p.Origin == OriginStore) {
		return Job{}, false, nil
	}
	j := Job{
		ID: ev.ID, Tenant: ev.Tenant, StoreID: p.StoreID, OrderID: ev.AggregateID, ExternalRef: p.ExternalRef,
		Status: status, Event: ev.Type, DriverID: p.DriverID, OccurredAt: ev.OccurredAt.UTC(),
		Tracking: Tracking{Company: carrier, Number: p.JobID},
	}
	if j.Tracking.Number != "" && trackingURL != "" {
		j.Tracking.URL = strings.NewReplacer("{job}", p.JobID, "{order}", ev.AggregateID).Replace(trackingURL)
	}
	switch status {
	case StatusFailed:
		j.Reason = p.Reason
	case StatusCancelled:
		j.Reason = p.CancelReason
	}
	return j, true, nil
}

// routeOne publishes the job of one event, when the store wants it and its tenant's flag lets
// it, on outbound.{platform}.{tenant} with the event id as message id.
func (s *Service) routeOne(ctx context.Context, msg jetstream.Msg) {
	var ev outbox.Event
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		s.log.Warn().Err(err).Str("subject", msg.Subject()).Msg("connectors: not an event; skipped")
		_ = msg.Term()
		return
	}
	j, ok, err := JobOf(&ev, s.cfg.Carrier, s.cfg.TrackingURL)
	if err != nil {
		s.log.Warn().Err(err).Str("event", ev.ID).Msg("connectors: event skipped")
		_ = msg.Term()
		return
	}
	if !ok {
		_ = msg.Ack()
		return
	}
	st, err := s.stores.get(ctx, j.StoreID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn().Str("event", ev.ID).Str("store", j.StoreID).Msg("connectors: the order's store is gone; skipped")
		_ = msg.Ack()
		return
	}
	if err != nil {
		s.retryLater(ctx, "router", msg, err, time.Second)
		return
	}
	j.Platform = st.Platform
	if !s.configured(st) {
		// A disabled store, or one registered without its platform's API (no
		// --api-credential-ref, or no --api-base where the platform has no address of its
		// own), is not synced back.
		s.m.jobs.WithLabelValues(j.Platform, "unconfigured").Inc()
		_ = msg.Ack()
		return
	}
	flag, err := s.flags.For(ctx, j.Tenant, j.Platform)
	if err != nil {
		s.retryLater(ctx, "router", msg, err, time.Second)
		return
	}
	if !flag.Includes(j.OrderID) {
		s.m.jobs.WithLabelValues(j.Platform, "skipped").Inc()
		_ = msg.Ack()
		return
	}
	if j.ExternalRef == "" {
		s.log.Warn().Str("event", ev.ID).Str("order", j.OrderID).Msg("connectors: order without external reference; skipped")
		_ = msg.Ack()
		return
	}
	data, err := json.Marshal(j)
	if err != nil {
		_ = msg.Term()
		return
	}
	s.ensure(j.Platform)
	if _, err := s.js.Publish(ctx, "outbound."+j.Platform+"."+j.Tenant, data, jetstream.WithMsgID(j.ID)); err != nil {
		s.retryLater(ctx, "router", msg, err, time.Second)
		return
	}
	s.m.jobs.WithLabelValues(j.Platform, "queued").Inc()
	_ = msg.Ack()
}

// configured reports whether a store is synced: it is enabled and has an API credential, and
// an API address of its own or its platform's.
func (s *Service) configured(st store.Store) bool {
	if !st.Enabled || st.APICredentialRef == "" {
		return false
	}
	if st.APIBase != "" {
		return true
	}
	c, err := s.reg.For(st.Platform)
	return err == nil && c.DefaultBase(Target{StoreID: st.ID, ExternalID: st.ExternalID}) != ""
}
