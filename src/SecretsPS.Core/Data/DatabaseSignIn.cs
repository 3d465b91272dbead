namespace SecretsPS.Core.Data;

/// <summary>
/// How a connection signs in, kept out of the connection string: a user and password (-Credential) or an access token
/// (-AccessToken: SqlConnection.AccessToken for SQL Server; the password for PostgreSQL and MySQL, as Azure and AWS IAM
/// sign-in expect). Never printed: <see cref="ToString"/> names only what is set.
/// </summary>
public sealed class DatabaseSignIn
{
    public static readonly DatabaseSignIn None = new(null, null, null);

    public DatabaseSignIn(string? userName, string? password, string? accessToken)
    {
        UserName = userName;
        Password = password;
        AccessToken = accessToken;
    }

    public string? UserName { get; }

    public string? Password { get; }

    public string? AccessToken { get; }

    /// <summary>What a driver that signs in with a password should send: the token when one is given.</summary>
    public string? PasswordOrToken => AccessToken ?? Password;

    public override string ToString() =>
        $"user {UserName ?? "(from the connection string)"}{(Password is null ? "" : ", password")}{(AccessToken is null ? "" : ", access token")}";
}
