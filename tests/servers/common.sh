# What the server scripts in this folder share; sourced, never run.

# A port nothing listens on at this moment (the caller retries when a server takes it first).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
