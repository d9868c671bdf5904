export class ClientConnection {
    socket;
    peerIp;
    inFlight = null;
    framingBroken = false;
    constructor(socket, peerIp) {
        this.socket = socket;
        this.peerIp = peerIp;
    }
}
const kConnection = Symbol('splitgate.connection');
export function clientConnection(socket) {
    const tracked = socket;
    let connection = tracked[kConnection];
    if (connection === undefined) {
        const address = socket.remoteAddress ?? '';
        connection = new ClientConnection(socket, address.startsWith('::ffff:') ? address.slice(7) : address);
        tracked[kConnection] = connection;
        if (!socket.destroyed)
            socket.once('close', connectionClosed);
    }
    return connection;
}
export function trackOnConnection(connection, bound) {
    if (connection.socket.destroyed)
        return false;
    const current = connection.inFlight;
    if (current === null)
        connection.inFlight = bound;
    else if (Array.isArray(current))
        current.push(bound);
    else
        connection.inFlight = [current, bound];
    return true;
}
export function untrackOnConnection(connection, bound) {
    const current = connection.inFlight;
    if (current === bound) {
        connection.inFlight = null;
    }
    else if (Array.isArray(current)) {
        const index = current.indexOf(bound);
        if (index !== -1)
            current.splice(index, 1);
        if (current.length === 0)
            connection.inFlight = null;
    }
}
function connectionClosed() {
    const connection = this[kConnection];
    if (connection === undefined)
        return;
    const current = connection.inFlight;
    connection.inFlight = null;
    if (current === null)
        return;
    if (Array.isArray(current))
        for (const bound of current)
            bound.clientClosed();
    else
        current.clientClosed();
}
//# sourceMappingURL=client-connections.js.map