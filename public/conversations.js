// Which conversation is open: opening one (and remembering it for this tab), and picking the
// most recent one after log in.

import { watch } from "./people.js";
import { markRead, state, USERNAME } from "./state.js";
import { tabStore } from "./store.js";
import { ui } from "./ui.js";
import { render } from "./view.js";

export function openConversation(peer, { focus = true } = {}) {
  state.activePeer = peer && USERNAME.test(peer) ? peer : null;
  const { session, activePeer } = state;
  if (session) tabStore.write(`active:${session.user}`, activePeer);
  if (ui.recipient.value.trim() !== (activePeer ?? "")) ui.recipient.value = activePeer ?? "";
  if (activePeer) {
    markRead(activePeer);
    watch([activePeer]);
  }
  render();
  if (focus) ui.messageInput.focus();
}

/** The peer of the conversation with the newest message, or null. */
export function mostRecentPeer() {
  let best = null;
  let bestAt = -1;
  for (const [peer, conv] of state.session.data.conversations) {
    const at = conv.messages.at(-1)?.at ?? -1;
    if (at > bestAt) [best, bestAt] = [peer, at];
  }
  return best;
}
