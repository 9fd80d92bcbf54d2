// Drives a running tokengate example app with the official Appwrite Node.js
// SDK (npm `node-appwrite`, pinned in package-lock.json), the server-side
// flow: an admin client (API key) issues and exchanges tokens, a session
// client (setSession) uses the session, the Users API administers it.
//
// Environment: TG_ENDPOINT (e.g. http://127.0.0.1:8080/v1), TG_PROJECT,
// TG_API_KEY. Exits non-zero (with the failing step) on any error or
// unexpected value; prints "NODE SDK CHECK PASSED" at the end.
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";

import { Account, AppwriteException, Client, Users } from "node-appwrite";

const endpoint = process.env.TG_ENDPOINT;
const project = process.env.TG_PROJECT;
const apiKey = process.env.TG_API_KEY;
assert.ok(endpoint && project && apiKey, "TG_ENDPOINT, TG_PROJECT and TG_API_KEY are required");
const userId = "node-" + randomBytes(6).toString("hex");

const steps = [];
function step(name) {
  steps.push(name);
  console.log("step:", name);
}

const serverClient = () => new Client().setEndpoint(endpoint).setProject(project).setKey(apiKey);
const sessionClient = (secret) => new Client().setEndpoint(endpoint).setProject(project).setSession(secret);

/** Asserts that `promise` rejects with an AppwriteException of this code (and type). */
async function rejects(promise, code, type, what) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppwriteException, `${what}: not an AppwriteException: ${error}`);
    assert.equal(error.code, code, `${what}: code (${error.type}: ${error.message})`);
    if (type !== undefined) {
      assert.equal(error.type, type, `${what}: type`);
    }
    return error;
  }
  assert.fail(`${what}: succeeded`);
}

async function main() {
  const users = new Users(serverClient());
  const admin = new Account(serverClient());
  const newSecret = async () => (await users.createToken({ userId })).secret;

  step("users.createToken");
  const token = await users.createToken({ userId, length: 8, expire: 120 });
  assert.equal(token.userId, userId);
  assert.equal(token.secret.length, 8);
  assert.match(token.expire, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);

  step("account.createSession (admin client)");
  const session = await admin.createSession({ userId, secret: token.secret });
  assert.equal(session.userId, userId);
  assert.equal(session.provider, "token");
  assert.deepEqual(session.factors, ["token"]);
  assert.equal(session.current, true);
  assert.ok(session.secret, "an API-key caller gets the session secret in the body");

  step("account.createSession (the same token again)");
  await rejects(admin.createSession({ userId, secret: token.secret }), 401, "user_invalid_token", "a token redeemed twice");

  step("account.createSession (wrong secret)");
  const wrong = await rejects(
    admin.createSession({ userId, secret: "0".repeat(8) }),
    401,
    "user_invalid_token",
    "a wrong secret",
  );
  assert.equal(wrong.message, "Invalid token passed in the request.");

  const account = new Account(sessionClient(session.secret));

  step("account.get (setSession)");
  const me = await account.get();
  assert.equal(me.$id, userId);

  step("account.getSession('current')");
  const current = await account.getSession({ sessionId: "current" });
  assert.equal(current.$id, session.$id);
  assert.equal(current.current, true);
  assert.equal(current.secret, "", "no secret without an API key");

  step("account.listSessions");
  const second = await admin.createSession({ userId, secret: await newSecret() });
  const listed = await account.listSessions();
  assert.equal(Number(listed.total), 2);
  assert.deepEqual(new Set(listed.sessions.map((s) => s.$id)), new Set([session.$id, second.$id]));
  assert.equal(listed.sessions.find((s) => s.$id === session.$id).current, true);
  assert.equal(listed.sessions.find((s) => s.$id === second.$id).current, false);

  step("account.updateSession('current')");
  const updated = await account.updateSession({ sessionId: "current" });
  assert.equal(updated.$id, session.$id);
  assert.ok(Date.parse(updated.expire) >= Date.parse(current.expire), "expire extended");

  step("account.get (the cookie, setCookie)");
  const byCookie = new Client().setEndpoint(endpoint).setProject(project).setCookie(`a_session_${project}=${second.secret}`);
  assert.equal((await new Account(byCookie).get()).$id, userId);

  step("users.get");
  const known = await users.get({ userId });
  assert.equal(known.$id, userId);
  assert.ok(known.registration, "registration date");
  await rejects(users.get({ userId: "never-" + randomBytes(4).toString("hex") }), 404, "user_not_found", "an unknown user");

  step("users.listSessions");
  const adminList = await users.listSessions({ userId });
  assert.equal(Number(adminList.total), 2);

  step("account.deleteSession (another one)");
  await account.deleteSession({ sessionId: second.$id });
  assert.equal(Number((await account.listSessions()).total), 1);

  step("users.createSession (server session)");
  const created = await users.createSession({ userId });
  assert.ok(created.secret, "server session secret");
  assert.equal((await new Account(sessionClient(created.secret)).get()).$id, userId);

  step("users.deleteSession");
  await users.deleteSession({ userId, sessionId: created.$id });
  await rejects(new Account(sessionClient(created.secret)).get(), 401, undefined, "a revoked session");
  assert.equal(Number((await users.listSessions({ userId })).total), 1);

  step("account.deleteSession('current') then get");
  await account.deleteSession({ sessionId: "current" });
  await rejects(account.get(), 401, undefined, "account.get after logout");
  await rejects(account.getSession({ sessionId: "current" }), 401, undefined, "the current session after logout");

  step("wrong session secret");
  await rejects(new Account(sessionClient("not-a-session")).get(), 401, undefined, "a made-up session");

  step("account.deleteSessions");
  const fourth = await admin.createSession({ userId, secret: await newSecret() });
  await new Account(sessionClient(fourth.secret)).deleteSessions();
  assert.equal(Number((await users.listSessions({ userId })).total), 0);

  step("users.deleteSessions");
  await admin.createSession({ userId, secret: await newSecret() });
  await admin.createSession({ userId, secret: await newSecret() });
  assert.equal(Number((await users.listSessions({ userId })).total), 2);
  await users.deleteSessions({ userId });
  assert.equal(Number((await users.listSessions({ userId })).total), 0);

  step("account.createEmailToken");
  const email = `${userId}@example.test`;
  const emailToken = await admin.createEmailToken({ userId: "unique()", email, phrase: true });
  assert.match(emailToken.secret, /^\d{6}$/, "an API-key caller gets the 6-digit code");
  assert.equal(emailToken.phrase.split(" ").length, 2, `phrase ${emailToken.phrase}`);
  const emailUser = emailToken.userId;
  const emailSession = await admin.createSession({ userId: emailUser, secret: emailToken.secret });
  assert.deepEqual(emailSession.factors, ["email"]);
  const emailMe = await new Account(sessionClient(emailSession.secret)).get();
  assert.equal(emailMe.$id, emailUser);
  assert.equal(emailMe.email, email);
  assert.equal(emailMe.emailVerification, true);

  step("account.createMagicURLToken");
  const magic = await admin.createMagicURLToken({ userId: "ignored-id", email });
  assert.equal(magic.userId, emailUser, "a known address issues for its owner");
  assert.equal(magic.secret.length, 64);
  const magicSession = await admin.createSession({ userId: magic.userId, secret: magic.secret });
  assert.equal(magicSession.provider, "magic-url");

  step("account.createPhoneToken");
  const phone = "+1415555" + String(randomInt(10000)).padStart(4, "0");
  const phoneToken = await admin.createPhoneToken({ userId: "unique()", phone });
  const phoneSession = await admin.createSession({ userId: phoneToken.userId, secret: phoneToken.secret });
  assert.equal(phoneSession.provider, "phone");
  assert.deepEqual(phoneSession.factors, ["phone"]);
  assert.equal((await new Account(sessionClient(phoneSession.secret)).get()).phoneVerification, true);

  step("account.updateMagicURLSession / updatePhoneSession (deprecated PUT aliases)");
  for (const name of ["updateMagicURLSession", "updatePhoneSession"]) {
    const aliased = await admin[name]({ userId, secret: await newSecret() });
    assert.equal(aliased.userId, userId, name);
    assert.ok(aliased.secret, `${name}: the session secret`);
    assert.equal((await new Account(sessionClient(aliased.secret)).get()).$id, userId, name);
  }

  step("account.createEmailToken (someone else's id)");
  const guest = new Account(new Client().setEndpoint(endpoint).setProject(project));
  await rejects(
    guest.createEmailToken({ userId, email: `mallory-${randomBytes(4).toString("hex")}@example.test` }),
    409,
    "user_already_exists",
    "a stranger claiming a custom-token user's id",
  );

  step("users.delete");
  await users.delete({ userId: emailUser });
  await rejects(new Account(sessionClient(emailSession.secret)).get(), 401, undefined, "a deleted user's session");
  await rejects(users.get({ userId: emailUser }), 404, "user_not_found", "a deleted user");

  step("a wrong API key");
  const wrongKey = new Users(new Client().setEndpoint(endpoint).setProject(project).setKey("not-the-key-not-the-key"));
  await rejects(wrongKey.createToken({ userId }), 401, undefined, "a wrong API key");

  console.log(`NODE SDK CHECK PASSED: ${steps.length} steps`);
}

main().catch((error) => {
  console.error(`NODE SDK CHECK FAILED at step ${steps.at(-1) ?? "?"}:`, error);
  process.exit(1);
});
