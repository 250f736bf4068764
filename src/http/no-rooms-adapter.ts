/**
 * Socket.IO's in-memory adapter, minus rooms. Socket.IO puts every socket in a room named after
 * its id, for `io.to(socketId)`. chat-server never addresses sockets through rooms (a worker
 * reaches its sessions through `LocalSessions`), so that room was a Map entry and a Set per
 * session for nothing: about 0.5 KB of each session's memory, and work at every connect and
 * disconnect. Anything that relies on rooms (`io.to`, `socket.join`, `io.emit`) reaches no one.
 */
import { Adapter, type Room, type SocketId } from "socket.io-adapter";

export class NoRoomsAdapter extends Adapter {
  override addAll(_id: SocketId, _rooms: Set<Room>): void {}
}
