package smtpd

import (
	"context"
	"slices"

	"mailroom/store"
)

// EnvelopeQueue is a Queue that also keeps a message's DSN (RFC 3461)
// and REQUIRETLS (RFC 8689) parameters: the outbound queue is one. With a
// plain Queue they are dropped (and REQUIRETLS mail is refused).
type EnvelopeQueue interface {
	EnqueueEntry(ctx context.Context, env *store.QueueEntry, head, msg []byte) error
}

// enqueue queues the transaction's remote recipients with its envelope.
func (s *session) enqueue(head, msg []byte) error {
	ctx := context.Background()
	if eq, ok := s.srv.opts.Queue.(EnvelopeQueue); ok {
		env := s.env
		env.From = s.from
		env.Rcpts = slices.Clone(s.env.Rcpts)
		return eq.EnqueueEntry(ctx, &env, head, msg)
	}
	if s.env.RequireTLS {
		return errRequireTLSUnsupported
	}
	return s.srv.opts.Queue.Enqueue(ctx, s.from, s.remote, head, msg)
}

// reportLocalSuccess sends the submitter a "delivered" report for the
// local recipients that asked for one (NOTIFY=SUCCESS), once their copies
// are committed.
func (s *session) reportLocalSuccess(head, msg []byte) {
	if s.from == "" {
		return
	}
	var actions []dsnAction
	for _, r := range s.localDSN {
		if r.Notify.Wants(store.NotifySuccess) {
			actions = append(actions, dsnAction{rcpt: r, action: "delivered"})
		}
	}
	if len(actions) == 0 {
		return
	}
	now := s.srv.opts.Now()
	r := report{hostname: s.srv.opts.Hostname, from: s.from, arrived: now, ret: s.env.Ret, envID: s.env.EnvID,
		msg: append(append([]byte(nil), head...), msg...), now: now}
	if err := sendReport(context.Background(), s.srv.opts.Store, s.srv.opts.Directory, s.srv.isLocal, s.from, r.build(actions)); err != nil {
		s.log.Error("success report", "err", err)
	}
}
