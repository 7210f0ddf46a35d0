"""The walking skeleton, end to end on real parts.

A reseller sends BAL through a signed Cloud API webhook; the add-on (HTTP
server) queues it; a real worker process asks the sandbox host (HTTP) and
sends the reply to the fake Graph API (HTTP).  Replays and tampering are
refused.
"""

from __future__ import annotations

RETAIL1 = "8801822222222"  # seeded: Karim Store, 2,500.00, English


def test_bal_round_trip(stack):
    _, resp = stack.say(RETAIL1, "bal")
    assert resp.status_code == 200
    stack.graph.wait_for(1, timeout=15)
    assert stack.graph.sent_to(RETAIL1) == ["Karim Store: balance ৳2,500"]


def test_bengali_reseller_gets_bengali_digits(stack):
    stack.say("8801933333333", "BAL")  # seeded: Salma Shop, 500.00, Bengali
    stack.graph.wait_for(1, timeout=15)
    assert stack.graph.sent_to("8801933333333") == ["Salma Shop: ব্যালেন্স ৳৫০০"]


def test_a_replayed_webhook_gets_no_second_reply(stack):
    raw, first = stack.say(RETAIL1, "BAL")
    again = stack.post_cloud(raw)
    assert (first.status_code, again.status_code) == (200, 200)  # 200, or Meta keeps resending
    stack.say(RETAIL1, "HELP")  # same sender, same partition: its reply comes after any replay's
    stack.graph.wait_for(lambda sent: any(m.text.startswith("Commands") for m in sent), timeout=15)
    texts = stack.graph.sent_to(RETAIL1)
    assert [t for t in texts if t.startswith("Karim Store")] == ["Karim Store: balance ৳2,500"]
    assert len(texts) == 2


def test_a_tampered_webhook_is_refused(stack):
    raw, _ = stack.say(RETAIL1, "BAL")
    stack.graph.wait_for(1, timeout=15)
    tampered = raw.replace(b"BAL", b"BAM")
    from wa_addon.testing.cloud_payloads import sign

    resp = stack.post_cloud(tampered, signature=sign("test-app-secret", raw))
    assert resp.status_code in (401, 403)
    assert resp.json()["error"]["code"] == "bad_signature"
    assert stack.rt.lanes["in"].depth() == 0


def test_an_unknown_number_gets_one_polite_line(stack):
    stack.say("8801799999999", "BAL")
    stack.graph.wait_for(1, timeout=15)
    assert stack.graph.sent_to("8801799999999") == ["এই নম্বরটি আমাদের কাছে নিবন্ধিত নয়। আপনার ডিলারের সাথে যোগাযোগ করুন।"]
