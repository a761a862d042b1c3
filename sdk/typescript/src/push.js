// @ts-check
// What a push notification says the app may show, as a plain function of its payload (Client.handlePush does the
// reconnecting). A tanis push never carries message content (docs/operations.md, "Push notifications"): its data
// is `{type: 'message', match_id}` for a new message, `{type: 'system' | 'claim' | 'match' | 'ad',
// notification_id}` for a notification, with the server's title and body beside it. Nothing else a payload
// carries is passed on.

/**
 * @typedef {{kind: 'message', matchId: number, title: string | null, body: string | null} | {kind: 'notification', type: string, notificationId: number, title: string | null, body: string | null}} PushShown
 */

/**
 * An FCM RemoteMessage (`@react-native-firebase/messaging`), its `data` alone, or an Expo notification's
 * `content`: what the app may show, or null when it is not a tanis push.
 * @param {any} payload
 * @returns {PushShown | null}
 */
export function pushShown(payload) {
  const data = payload?.data && typeof payload.data === 'object' ? payload.data : payload ?? {};
  const alert = payload?.notification ?? payload?.aps?.alert ?? payload ?? {};
  const text = (/** @type {unknown} */ v) => (typeof v === 'string' ? v : null);
  const id = (/** @type {unknown} */ v) => (typeof v === 'string' || typeof v === 'number') && Number.isSafeInteger(Number(v)) && Number(v) > 0 ? Number(v) : null;
  const [title, body] = [text(alert.title), text(alert.body)];
  const matchId = id(data.match_id);
  if (data.type === 'message' && matchId !== null) return { kind: 'message', matchId, title, body };
  const notificationId = id(data.notification_id);
  if (['system', 'claim', 'match', 'ad'].includes(data.type) && notificationId !== null) {
    return { kind: 'notification', type: data.type, notificationId, title, body };
  }
  return null;
}
