// Who is online: asked of the server after log in, every few seconds, and soon after a message
// comes from someone not on the list.

import { ACK_TIMEOUT_MS, state } from "./state.js";
import { render } from "./view.js";

export async function refreshUsers() {
  const socket = state.session?.socket;
  if (!socket || !state.session.loggedIn) return;
  try {
    const answer = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("list users", {});
    if (answer?.ok && state.session?.socket === socket) {
      state.onlineUsers = answer.users;
      render();
    }
  } catch {
    // next poll
  }
}

let refreshSoonTimer;
export function refreshUsersSoon() {
  clearTimeout(refreshSoonTimer);
  refreshSoonTimer = setTimeout(refreshUsers, 200);
}
