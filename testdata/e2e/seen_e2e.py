"""Private \\Seen with Python's imaplib: the assistant scenario.

Usage: seen_e2e.py HOST IMAP_PORT
alice (a person) delegates her INBOX to bob, an assistant, with private
\\Seen; bob reads three messages: they stay unread for alice and are read
for bob. info@example.test, a team account shared with both, keeps one
\\Seen: what one member reads is read for the other. Exits 0 and prints
"ok" when every step behaves so.
"""
import imaplib
import sys

host, port = sys.argv[1], int(sys.argv[2])
ALICE_INBOX = '"Other Users/alice@example.test/INBOX"'
TEAM = '"Shared/info@example.test/INBOX"'
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def login(user):
    m = imaplib.IMAP4(host, port)
    ok(m.login(user, "password"), "LOGIN " + user)
    return m


def unseen(m, box):
    data = ok(m.status(box, "(UNSEEN)"), "STATUS " + box)
    return int(data[0].rsplit(b"UNSEEN ", 1)[1].rstrip(b")"))


def seen_numbers(m):
    data = ok(m.fetch("1:*", "(FLAGS)"), "FETCH FLAGS")
    return [int(line.split()[0]) for line in data if b"\\Seen" in line]


alice, bob = login("alice@example.test"), login("bob@example.test")
for i in range(1, 6):
    ok(alice.append("INBOX", None, None, b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)), "APPEND")
ok(alice.setacl("INBOX", "bob@example.test", "lrsw"), "SETACL")
typ, data = alice._simple_command("SETMETADATA", "INBOX", '(/shared/vendor/mailroom/seen "private")')
check(typ == "OK", "SETMETADATA seen private: %s %r" % (typ, data))
typ, data = alice._simple_command("SETMETADATA", "INBOX", '(/shared/vendor/mailroom/seen "mine")')
check(typ == "NO", "SETMETADATA seen mine refused: %s" % typ)

ok(bob.select(ALICE_INBOX), "bob SELECT alice's INBOX")
for n in ("1", "2", "3"):
    data = ok(bob.fetch(n, "(BODY[])"), "bob FETCH BODY[]")
    check(b"body " + n.encode() in data[0][1], "bob reads message " + n)
check(unseen(alice, "INBOX") == 5, "alice's UNSEEN unchanged")
check(unseen(bob, ALICE_INBOX) == 2, "bob's UNSEEN lower")
data = ok(bob.search(None, "UNSEEN"), "bob SEARCH UNSEEN")
check(data[0].split() == [b"4", b"5"], "bob's SEARCH UNSEEN: %r" % data)
check(seen_numbers(bob) == [1, 2, 3], "bob's FETCH FLAGS agree")

ok(alice.select("INBOX"), "alice SELECT INBOX")
check(seen_numbers(alice) == [], "alice has read nothing")
ok(alice.store("4", "+FLAGS", "(\\Seen)"), "alice STORE 4 +FLAGS \\Seen")
check(seen_numbers(alice) == [4], "alice read message 4")
ok(bob.noop(), "bob NOOP")
check(seen_numbers(bob) == [1, 2, 3], "alice's read does not change bob's view")
check(unseen(bob, ALICE_INBOX) == 2, "bob's UNSEEN after alice's read")
data = ok(bob.store("1", "-FLAGS", "(\\Seen)"), "bob STORE 1 -FLAGS \\Seen")
check(b"\\Seen" not in data[0], "bob's STORE answer: %r" % data)
check(unseen(alice, "INBOX") == 4, "bob's -FLAGS does not touch alice's")

# The team mailbox keeps one \Seen.
ok(bob.append(TEAM, None, None, b"Subject: order\r\n\r\nplease\r\n"), "APPEND to the team")
check(unseen(alice, TEAM) == 1, "team UNSEEN for alice before")
ok(bob.select(TEAM), "bob SELECT team")
ok(bob.fetch("1", "(BODY[])"), "bob reads the team's message")
check(unseen(alice, TEAM) == 0, "bob's read is alice's too in the team mailbox")
for m in (alice, bob):
    m.logout()
print("ok")
