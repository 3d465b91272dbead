using System.Data.Common;

namespace SecretsPS.Core.Data;

/// <summary>
/// What a database error may say in a message or a log: its kind and code, never its text. The text can quote a
/// value: a duplicate key, a failed conversion, PostgreSQL's DETAIL, SQL Server's truncated value, a trigger's message.
/// </summary>
public static class DatabaseErrorText
{
    /// <summary>"PostgresException, SQLSTATE 23505", "SqlException, error 2627", "SqliteException, error 19", or the type alone.</summary>
    public static string Describe(Exception e) => e switch
    {
        Npgsql.PostgresException p => $"{p.GetType().Name}, SQLSTATE {p.SqlState}",
        Microsoft.Data.SqlClient.SqlException s => $"{s.GetType().Name}, error {s.Number}",
        Microsoft.Data.Sqlite.SqliteException q => $"{q.GetType().Name}, error {q.SqliteErrorCode}",
        MySqlConnector.MySqlException m => $"{m.GetType().Name}, error {m.Number}, SQLSTATE {m.SqlState}",
        DbException { SqlState: { Length: > 0 } state } d => $"{d.GetType().Name}, SQLSTATE {state}",
        _ => e.GetType().Name,
    };

    /// <summary>A database error that reached no more specific handler, as one that says only its code.</summary>
    public static SecretsPSException ToException(DbException e) =>
        new(ErrorIds.DatabaseError, ErrorKind.InvalidOperation, Localized.Format(Messages.DatabaseErrorUnhandled, Describe(e)), e);
}
