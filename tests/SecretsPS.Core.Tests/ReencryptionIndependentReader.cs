using System.Diagnostics;
using System.Text;

namespace SecretsPS.Core.Tests;

/// <summary>
/// "The application's independent reader": tests/interop/secretsps_ref.py (Python's sqlite3 and the
/// cryptography package; no code shared with SecretsPS) reads every row after a scenario and decrypts it.
/// SQLite: the script opens the file itself (read-sqlite). PostgreSQL: the test reads the raw rows with
/// Npgsql and pipes them in (check-rows), as there is no psycopg here. MySQL: the script reads the table itself through
/// PyMySQL (read-mysql, with /usr/bin/python3, where Debian's python3-pymysql is), else the rows are piped in too.
/// </summary>
internal static class IndependentReader
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly Lazy<string?> Python = new(FindPython);
    private static readonly Lazy<string?> PythonWithPyMySql = new(() => FindPythonWith("/usr/bin/python3", "import cryptography.fernet, pymysql"));

    /// <summary>Null when python3 with cryptography is there; else why not (the C# checks still run).</summary>
    public static string? Unavailable => Python.Value is null ? "python3 with the cryptography package is not available" : null;

    /// <summary>Key → plaintext (null for NULL) as the Python reader sees the table; fails the test if any value does not decrypt.</summary>
    public static SortedDictionary<string, string?> ReadAll(TestDatabase db, TestTable table, TestKeys keys, string? expectVersion)
    {
        var result = Run(db, table, keys, expectVersion);
        Assert.True(result.ExitCode == 0, $"The independent reader refused the table (exit {result.ExitCode}): {result.Error}");
        var rows = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var line in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int tab = line.LastIndexOf('\t');
            var hex = line[(tab + 1)..];
            rows.Add(line[..tab], hex == "NULL" ? null : Encoding.UTF8.GetString(Convert.FromHexString(hex)));
        }
        return rows;
    }

    /// <summary>The reader's exit code and message (for the cases where it must refuse).</summary>
    public static (int ExitCode, string Output, string Error) Run(TestDatabase db, TestTable table, TestKeys keys, string? expectVersion)
    {
        var python = Python.Value ?? throw new InvalidOperationException(Unavailable);
        var args = new List<string>();
        string stdin = "";
        if (db is SqliteTestDatabase sqlite)
        {
            Assert.Null(table.Schema);
            args.AddRange(["read-sqlite", "--key-file", keys.Path, "--ignore-environment", "--db", sqlite.FilePath,
                "--table", table.Name, "--column", table.Column, "--key-column", table.Key]);
        }
        else if (db is MySqlTestDatabase mysql && PythonWithPyMySql.Value is { } withPyMySql)
        {
            python = withPyMySql;
            var b = new MySqlConnector.MySqlConnectionStringBuilder(mysql.ConnectionString);
            args.AddRange(["read-mysql", "--key-file", keys.Path, "--ignore-environment", "--host", b.Server, "--port", b.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--user", b.UserID, "--database", b.Database, "--table", table.Schema is null ? table.Name : table.Schema + "." + table.Name,
                "--column", table.Column, "--key-column", table.Key]);
            if (table.Schema is not null) args.Add("--schema-qualified");
        }
        else
        {
            args.AddRange(["check-rows", "--key-file", keys.Path, "--ignore-environment"]);
            stdin = string.Concat(db.Read(table).Select(r => r.Key + "\t" + (r.Value ?? "\\N") + "\n"));
        }
        if (expectVersion is not null) args.AddRange(["--expect-version", expectVersion]);
        return Start(python, args, stdin, script: true);
    }

    /// <summary>
    /// The whole check: every row the database holds is exactly the expected set of keys, NULL where expected,
    /// at <paramref name="expectVersion"/> when given, and decrypts — in C# and in Python — to the expected plaintext.
    /// </summary>
    public static void AssertTableHolds(TestDatabase db, TestTable table, TestKeys keys, IReadOnlyDictionary<string, string?> expected,
        string? expectVersion, Xunit.Abstractions.ITestOutputHelper? output = null)
    {
        var stored = db.Read(table);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), stored.Keys);
        foreach (var (key, value) in stored)
        {
            var plaintext = expected[key];
            if (plaintext is null)
            {
                Assert.True(value is null, $"row {key}: NULL became a value");
                continue;
            }
            Assert.True(value is not null, $"row {key}: the value became NULL");
            if (expectVersion is not null) Assert.StartsWith(expectVersion + ":", value);
            Assert.True(plaintext == keys.Ring.UnprotectToString(value), $"row {key}: SecretsPS decrypts it to another plaintext");
        }

        if (Unavailable is { } reason)
        {
            output?.WriteLine($"NOT RUN (Python reader): {reason}; the C# check above ran.");
            return;
        }
        var seen = ReadAll(db, table, keys, expectVersion);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), seen.Keys);
        foreach (var (key, plaintext) in expected)
            Assert.True(plaintext == seen[key], $"row {key}: the independent reader decrypts it to another plaintext (or NULL mismatch)");
    }

    /// <summary>
    /// The plaintext bytes the Python reader (secretsps_ref.py decrypt) gets from each stored value, read as the
    /// application reads it; values travel hex-encoded so that any surrounding whitespace reaches it intact.
    /// </summary>
    public static byte[][] Decrypt(TestKeys keys, IReadOnlyList<string> storedValues)
    {
        var python = Python.Value ?? throw new InvalidOperationException(Unavailable);
        var stdin = string.Concat(storedValues.Select(v => Convert.ToHexString(Encoding.UTF8.GetBytes(v)) + "\n"));
        var (code, output, error) = Start(python, ["decrypt", "--key-file", keys.Path, "--ignore-environment", "--hex-input"], stdin, script: true);
        Assert.True(code == 0, $"The independent reader refused a value (exit {code}): {error}");
        var lines = output.Split('\n');
        if (lines[^1].Length == 0) lines = lines[..^1];
        Assert.Equal(storedValues.Count, lines.Length);
        return lines.Select(Convert.FromHexString).ToArray();
    }

    /// <summary>Every character Python's str.strip() removes (str.isspace()), asked of the interpreter itself.</summary>
    public static string PythonWhitespace()
    {
        var python = Python.Value ?? throw new InvalidOperationException(Unavailable);
        var (code, output, error) = Start(python,
            ["-c", "import sys; print(' '.join('%04X' % c for c in range(0x110000) if chr(c).isspace()))"], "", script: false);
        Assert.True(code == 0, error);
        return string.Concat(output.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(h => char.ConvertFromUtf32(Convert.ToInt32(h, 16))));
    }

    private static (int, string, string) Start(string python, IReadOnlyList<string> arguments, string stdin, bool script)
    {
        var start = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
        };
        if (script) start.ArgumentList.Add(RepoPaths.InteropScript);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name == "ACTIVE_ENCRYPTION_VERSION" || name.StartsWith("ENCRYPTION_", StringComparison.Ordinal)) start.Environment.Remove(name);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("secretsps_ref.py did not finish in time.");
        }
        return (process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
    }

    /// <summary>This interpreter when it exists and can run <paramref name="imports"/>, else null.</summary>
    private static string? FindPythonWith(string path, string imports)
    {
        if (!File.Exists(path)) return null;
        try { return Start(path, ["-c", imports], "", script: false).Item1 == 0 ? path : null; }
        catch (System.ComponentModel.Win32Exception) { return null; }
    }

    private static string? FindPython()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "python3");
            if (!File.Exists(candidate)) continue;
            try
            {
                // The interpreter itself, not a launcher such as a pyenv shim (which costs a second or two per call).
                var (code, output, _) = Start(candidate, ["-c", "import cryptography.fernet, sqlite3, sys; print(sys.executable)"], "", script: false);
                if (code != 0) return null;
                var executable = output.Trim();
                return File.Exists(executable) ? executable : candidate;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }
        return null;
    }
}
