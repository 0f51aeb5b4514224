"""The team-mailbox scenario with Python's imaplib and smtplib.

Usage: delegation_e2e.py HOST IMAP_PORT SMTP_PORT SUBMISSION_PORT
Runs against the development configuration (every password "password";
info@example.test shared with group staff; bob on the free plan; carol in
another group). Exits 0 when every step behaves as DESIGN.md says.
"""
import imaplib
import smtplib
import sys

host, imap_port, mx_port, sub_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
TEAM = '"Shared/info@example.test/INBOX"'
TEAM_SENT = '"Shared/info@example.test/Sent"'
ALICE_INBOX = '"Other Users/alice@example.test/INBOX"'


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def login(user):
    m = imaplib.IMAP4(host, imap_port)
    ok(m.login(user, "password"), "LOGIN " + user)
    return m


def names(m):
    return [line.decode() for line in ok(m.list('""', "*"), "LIST")]


alice, bob, carol = login("alice@example.test"), login("bob@example.test"), login("carol@other.test")
check("ACL" in ok(alice.capability(), "CAPABILITY")[0].decode().split(), "ACL advertised")

# info@ is shared with staff by the operator: alice and bob (free plan) see it.
for who, m in (("alice", alice), ("bob", bob)):
    check(any("Shared/info@example.test/INBOX" in n for n in names(m)), who + " sees the team INBOX")
check(not any("Shared/" in n or "Other Users/" in n for n in names(carol)), "carol sees no shared mailbox")

# Mail to info@ arrives in the team INBOX for both.
ok(alice.select(TEAM), "alice SELECT team")
ok(bob.select(TEAM), "bob SELECT team")
with smtplib.SMTP(host, mx_port) as s:
    s.sendmail("customer@remote.test", ["info@example.test"],
               b"From: customer@remote.test\r\nTo: info@example.test\r\nSubject: Need help\r\n\r\nHello?\r\n")
for who, m in (("alice", alice), ("bob", bob)):
    ok(m.noop(), who + " NOOP")
    check(m.response("EXISTS")[1][-1] == b"1", who + " sees EXISTS 1")

# bob answers as info@; the answer is in info@'s Sent for alice to read.
with smtplib.SMTP(host, sub_port) as s:
    s.login("bob@example.test", "password")
    s.sendmail("info@example.test", ["alice@example.test"],
               b"From: Info Desk <info@example.test>\r\nTo: customer@example.test\r\nSubject: Re: Need help\r\n\r\nHere you go.\r\n")
data = ok(alice.status(TEAM_SENT, "(MESSAGES)"), "STATUS team Sent")
check(b"MESSAGES 1" in data[0], "the answer is in info@'s Sent: %r" % data)
ok(alice.select(TEAM_SENT), "SELECT team Sent")
data = ok(alice.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH team Sent")
check(b"Re: Need help" in data[0][1], "alice reads bob's answer")
# Without p carol cannot send as info@.
with smtplib.SMTP(host, sub_port) as s:
    s.login("carol@other.test", "password")
    try:
        s.sendmail("info@example.test", ["alice@example.test"], b"From: info@example.test\r\n\r\nx\r\n")
        check(False, "carol sent as info@")
    except smtplib.SMTPSenderRefused as e:
        check(e.smtp_code == 550 and b"info@example.test" in e.smtp_error, "carol refused: %r" % (e,))

# alice grants bob lr on her INBOX with SETACL; bob reads it.
ok(alice.append("INBOX", None, None, b"Subject: For bob\r\n\r\nhi bob\r\n"), "APPEND")
ok(alice.setacl("INBOX", "bob@example.test", "lr"), "SETACL")
data = ok(alice.getacl("INBOX"), "GETACL")
check(b'"bob@example.test" "lr"' in data[0], "GETACL lists bob: %r" % data)
data = ok(bob.myrights(ALICE_INBOX), "MYRIGHTS")
check(data[0].endswith(b'"lr"'), "MYRIGHTS lr: %r" % data)
# With lr only bob can change nothing: SELECT opens it read-only (RFC 4314
# section 4), which imaplib reports as an exception after selecting.
try:
    bob.select(ALICE_INBOX)
    check(False, "bob's SELECT of alice's INBOX with lr is read-only")
except imaplib.IMAP4.readonly:
    pass
ok(bob.select(ALICE_INBOX, readonly=True), "bob EXAMINE alice's INBOX")
data = ok(bob.fetch("*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "bob FETCH")
check(b"For bob" in data[0][1], "bob reads alice's message")

# Refused grants: carol is in another group (for alice she does not
# exist); bob's free plan cannot share.
typ, data = alice.setacl("INBOX", "carol@other.test", "lr")
check(typ == "NO" and b"NONEXISTENT" in data[0], "grant to carol refused: %s %r" % (typ, data))
typ, data = bob.setacl("INBOX", "alice@example.test", "lr")
check(typ == "NO" and b"NOPERM" in data[0], "grant by bob refused: %s %r" % (typ, data))
check(not any("Other Users/" in n or "Shared/" in n for n in names(carol)), "carol still sees nothing")

# alice revokes; bob's open session loses access.
ok(alice.deleteacl("INBOX", "bob@example.test"), "DELETEACL")
typ, data = bob.fetch("1", "(FLAGS)")
check(typ == "NO" and b"NOPERM" in data[0], "bob's FETCH after revoke: %s %r" % (typ, data))
for m in (alice, bob, carol):
    m.logout()
print("ok")
