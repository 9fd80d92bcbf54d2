"""Drives a running tokengate example app with the official Appwrite Python SDK.

Environment: TG_ENDPOINT (e.g. http://127.0.0.1:8080/v1), TG_PROJECT, TG_API_KEY.
Exits non-zero (with the failing step) on any error or unexpected value.
"""
import os
import sys
import uuid

from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.account import Account
from appwrite.services.users import Users

endpoint = os.environ["TG_ENDPOINT"]
project = os.environ["TG_PROJECT"]
api_key = os.environ["TG_API_KEY"]
user_id = "sdk-" + uuid.uuid4().hex[:12]

steps = []


def step(name):
    steps.append(name)
    print("step:", name, flush=True)


def server_client():
    return Client().set_endpoint(endpoint).set_project(project).set_key(api_key)


def session_client(secret):
    return Client().set_endpoint(endpoint).set_project(project).set_session(secret)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main():
    users = Users(server_client())
    admin_account = Account(server_client())

    step("users.create_token")
    token = users.create_token(user_id=user_id, length=8, expire=120)
    check(token.userid == user_id, f"token user {token.userid}")
    check(len(token.secret) == 8, f"token secret length {len(token.secret)}")

    step("account.create_session")
    session = admin_account.create_session(user_id=user_id, secret=token.secret)
    check(session.userid == user_id, "session user")
    check(session.provider == "token", f"provider {session.provider}")
    check(session.factors == ["token"], f"factors {session.factors}")
    check(session.current is True, "current")
    check(session.secret, "API-key caller gets the session secret")

    step("account.create_session (second time fails)")
    try:
        admin_account.create_session(user_id=user_id, secret=token.secret)
        raise AssertionError("a token redeemed twice")
    except AppwriteException as error:
        check(error.code == 401 and error.type == "user_invalid_token", f"{error.code} {error.type}")

    account = Account(session_client(session.secret))

    step("account.get_session(current)")
    current = account.get_session(session_id="current")
    check(current.id == session.id, "current id")
    check(current.current is True, "current flag")
    check(current.secret == "", "no secret without API key")

    step("account.list_sessions")
    second = admin_account.create_session(user_id=user_id, secret=users.create_token(user_id=user_id).secret)
    listed = account.list_sessions()
    check(int(listed.total) == 2, f"total {listed.total}")
    check({s.id for s in listed.sessions} == {session.id, second.id}, "listed ids")

    step("account.update_session")
    updated = account.update_session(session_id="current")
    check(updated.id == session.id, "updated id")
    check(updated.expire >= current.expire, "expire extended")

    step("account.get")
    me = account.get()
    check(me.id == user_id, f"account id {me.id}")

    step("users.list_sessions")
    admin_list = users.list_sessions(user_id=user_id)
    check(int(admin_list.total) == 2, f"admin total {admin_list.total}")

    step("account.delete_session")
    account.delete_session(session_id=second.id)
    check(int(account.list_sessions().total) == 1, "one session left")

    step("users.delete_session")
    third = admin_account.create_session(user_id=user_id, secret=users.create_token(user_id=user_id).secret)
    users.delete_session(user_id=user_id, session_id=third.id)
    check(int(users.list_sessions(user_id=user_id).total) == 1, "third deleted")

    step("account.delete_session(current)")
    account.delete_session(session_id="current")
    try:
        account.get_session(session_id="current")
        raise AssertionError("session still valid after logout")
    except AppwriteException as error:
        check(error.code == 401, f"after logout {error.code}")

    step("account.delete_sessions")
    fourth = admin_account.create_session(user_id=user_id, secret=users.create_token(user_id=user_id).secret)
    Account(session_client(fourth.secret)).delete_sessions()
    check(int(users.list_sessions(user_id=user_id).total) == 0, "all deleted")

    step("users.delete_sessions")
    admin_account.create_session(user_id=user_id, secret=users.create_token(user_id=user_id).secret)
    admin_account.create_session(user_id=user_id, secret=users.create_token(user_id=user_id).secret)
    users.delete_sessions(user_id=user_id)
    check(int(users.list_sessions(user_id=user_id).total) == 0, "admin delete all")

    step("users.create_session")
    created = users.create_session(user_id=user_id)
    check(created.secret, "server session secret")
    check(Account(session_client(created.secret)).get().id == user_id, "server session works")

    step("account.create_email_token")
    email = f"{user_id}@example.test"
    email_token = admin_account.create_email_token(user_id="unique()", email=email, phrase=True)
    check(len(email_token.secret) == 6 and email_token.secret.isdigit(), "API-key caller gets the 6-digit code")
    check(len(email_token.phrase.split(" ")) == 2, f"phrase {email_token.phrase!r}")
    email_user = email_token.userid
    email_session = admin_account.create_session(user_id=email_user, secret=email_token.secret)
    check(email_session.factors == ["email"], f"email factors {email_session.factors}")

    step("account.get (after email OTP)")
    email_me = Account(session_client(email_session.secret)).get()
    check(email_me.id == email_user and email_me.email == email, f"user {email_me.id} {email_me.email}")
    check(email_me.emailverification is True, "emailVerification")

    step("account.create_magic_url_token")
    magic = admin_account.create_magic_url_token(user_id="ignored-id", email=email)
    check(magic.userid == email_user, "a known address issues for its owner")
    check(len(magic.secret) == 64, "64-hex magic secret")
    magic_session = admin_account.create_session(user_id=magic.userid, secret=magic.secret)
    check(magic_session.provider == "magic-url", f"provider {magic_session.provider}")

    step("account.create_phone_token")
    phone_token = admin_account.create_phone_token(user_id="unique()", phone="+1415555" + str(uuid.uuid4().int % 10000).zfill(4))
    phone_session = admin_account.create_session(user_id=phone_token.userid, secret=phone_token.secret)
    check(phone_session.provider == "phone" and phone_session.factors == ["phone"], "phone session")
    phone_me = Account(session_client(phone_session.secret)).get()
    check(phone_me.phoneverification is True, "phoneVerification")

    step("account.update_magic_url_session / update_phone_session (deprecated PUT aliases)")
    for update in (admin_account.update_magic_url_session, admin_account.update_phone_session):
        aliased = update(user_id=user_id, secret=users.create_token(user_id=user_id).secret)
        check(aliased.userid == user_id and aliased.secret, f"{update.__name__} made a session")
        check(Account(session_client(aliased.secret)).get().id == user_id, f"{update.__name__} session works")

    step("users.get")
    known = users.get(user_id=user_id)
    check(known.id == user_id and known.registration, f"custom-token user {known.id} since {known.registration!r}")
    try:
        users.get(user_id="never-" + uuid.uuid4().hex[:8])
        raise AssertionError("an unknown user was found")
    except AppwriteException as error:
        check(error.code == 404 and error.type == "user_not_found", f"unknown user {error.code} {error.type}")

    step("account.create_email_token (someone else's id)")
    try:
        Account(Client().set_endpoint(endpoint).set_project(project)).create_email_token(
            user_id=user_id, email="mallory-" + uuid.uuid4().hex[:8] + "@example.test"
        )
        raise AssertionError("a stranger claimed a custom-token user's id")
    except AppwriteException as error:
        check(error.code == 409 and error.type == "user_already_exists", f"claim {error.code} {error.type}")

    step("users.delete")
    users.delete(user_id=email_user)
    try:
        Account(session_client(email_session.secret)).get()
        raise AssertionError("a deleted user's session still works")
    except AppwriteException as error:
        check(error.code == 401, f"after delete {error.code}")
    try:
        users.get(user_id=email_user)
        raise AssertionError("a deleted user is still found")
    except AppwriteException as error:
        check(error.code == 404, f"deleted user {error.code}")

    print("SDK CHECK PASSED:", len(steps), "steps", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # report the step that failed
        print(f"SDK CHECK FAILED at step {steps[-1] if steps else '?'}: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
