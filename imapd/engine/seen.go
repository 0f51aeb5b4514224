package engine

import (
	"slices"
	"strings"

	"mailroom/acl"
	"mailroom/store"
)

// Shared or private \Seen. How a mailbox keeps \Seen is its own setting
// (the METADATA entry seenEntry, also written by `mailroom acl seen`),
// else the configuration's (acl.Directory.SeenMode). With private \Seen,
// every user other than the owner sees \Seen from their own state in the
// store (store/seen.go), the owner from the message records; the view
// holds the user's state while the mailbox is selected. Every flag other
// than \Seen is shared.

// seenMode is how \Seen is kept on mailbox m of owner.
func (c *conn) seenMode(dir *acl.Directory, owner *acl.Account, m *store.Mailbox) (string, error) {
	var explicit string
	err := c.srv.opts.Store.GetMetadata(c.ctx, store.MetadataScope{Mailbox: m.ID}, seenEntry, 0, func(e store.MetadataEntry) error {
		if strings.EqualFold(e.Name, seenEntry) {
			explicit = string(e.Value)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return dir.SeenMode(owner, m.Name, explicit), nil
}

// seenUser returns the logged-in user's lower-case address when they keep
// \Seen privately on mailbox m, else "".
func (c *conn) seenUser(m *store.Mailbox) (string, error) {
	dir := c.srv.opts.Directory.Load()
	owner, ok := dir.Lookup(m.Account)
	me := c.me(dir)
	if !ok || me == nil || owner == me {
		return "", nil
	}
	mode, err := c.seenMode(dir, owner, m)
	if err != nil || !acl.PrivateSeen(owner, me, mode) {
		return "", err
	}
	return strings.ToLower(me.Address), nil
}

// flagState is the store's FlagState of the selected mailbox with \Seen
// as the session's user sees it.
func (c *conn) flagState(v *view) (*store.FlagState, error) {
	fs, err := c.srv.opts.Store.FlagState(c.ctx, v.id)
	if err != nil || v.seenUser == "" {
		return fs, err
	}
	seen := v.seenUIDs(fs.UIDs)
	fs.Unseen = slices.DeleteFunc(slices.Clone(fs.UIDs), func(u store.UID) bool {
		_, found := slices.BinarySearch(seen, u)
		return found
	})
	return fs, nil
}

// unseen is STATUS UNSEEN of mailbox m for the session's user.
func (c *conn) unseen(m *store.Mailbox) (uint32, error) {
	user, err := c.seenUser(m)
	if err != nil || user == "" {
		return m.Unseen, err
	}
	return c.srv.opts.Store.UnseenFor(c.ctx, m.ID, user)
}

// storeFlagsIf is the store's StoreFlagsIf on the selected mailbox, with
// \Seen going to the user's own state when they keep it privately.
func (c *conn) storeFlagsIf(uids []store.UID, op store.FlagOp, flags store.Flags, keep func(old, proposed store.Flags) store.Flags, unchangedSince *uint64) ([]store.Message, []store.UID, error) {
	ctx := store.WithOrigin(c.ctx, c.sel)
	if c.sel.seenUser != "" {
		return c.srv.opts.Store.StoreFlagsAs(ctx, c.sel.id, c.sel.seenUser, uids, op, flags, keep, unchangedSince)
	}
	return c.srv.opts.Store.StoreFlagsIf(ctx, c.sel.id, uids, op, flags, keep, unchangedSince)
}
