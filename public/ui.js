// The page's elements, and the notice and log-in error lines.

const $ = (id) => document.getElementById(id);
export const ui = {
  loginForm: $("login-form"),
  loginUsername: $("login-username"),
  loginToken: $("login-token"),
  loginSubmit: $("login-submit"),
  loginError: $("login-error"),
  connection: $("connection"),
  logout: $("logout"),
  notice: $("notice"),
  userList: $("user-list"),
  userListEmpty: $("user-list-empty"),
  onlineCount: $("online-count"),
  conversationList: $("conversation-list"),
  conversationListEmpty: $("conversation-list-empty"),
  recipient: $("recipient"),
  peerStatus: $("peer-status"),
  messageList: $("message-list"),
  chatHint: $("chat-hint"),
  typingIndicator: $("typing-indicator"),
  composer: $("composer"),
  messageInput: $("message-input"),
};

let noticeTimer;

export function showNotice(text, kind = "warn") {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    ui.notice.hidden = true;
  }, 6000);
}

export function showLoginError(text) {
  ui.loginError.textContent = text;
  ui.loginError.hidden = false;
}

export function hideLoginError() {
  ui.loginError.hidden = true;
  ui.loginError.textContent = "";
}
