namespace SecretsPS.Core.Data;

/// <summary>What kind of thing stopped a connection from opening: each sends the operator a different way.</summary>
public enum ConnectionFailureKind
{
    /// <summary>Nothing more precise is known (a timeout, a network error).</summary>
    Unreachable,
    /// <summary>Nothing listens there: the server is down, or the host or port is wrong.</summary>
    Refused,
    /// <summary>The TLS handshake failed: an untrusted or mismatched certificate, or TLS required by one side only.</summary>
    Tls,
    /// <summary>The server refused the user, password or token.</summary>
    Authentication,
    /// <summary>The server is up but has no such database.</summary>
    DatabaseMissing,
    /// <summary>A pooler (or the server) rejected a connection parameter.</summary>
    ParameterRejected,
}
