namespace SecretsPS.Core.Data;

public enum DatabaseProvider
{
    /// <summary>The embedded default: a file path is all a user needs.</summary>
    Sqlite,
    PostgreSql,
    SqlServer,
    /// <summary>MySQL and MariaDB, through MySqlConnector.</summary>
    MySql,
}
