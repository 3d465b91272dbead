#Requires -Version 7.4
<#
    Database fixtures for the re-encryption Pester files (Start-Reencryption, Get-ReencryptJob,
    Remove-ReencryptJob, Reencryption.Scenario): one description of a test database for SQLite and
    PostgreSQL alike, so a test is written once and runs on both.

        $db = New-TestDatabase -Provider Sqlite -Folder $folder          # a SQLite file (created by the first SQL)
        $db = New-TestDatabase -Provider PostgreSql -Server $pg          # a fresh database on a Start-TestPostgres server
        Invoke-TestSql -Database $db -Sql 'SELECT id, otp FROM t'        # -> '1|v1:…', '2|\N' (like Invoke-TestPsql)
        New-TestSecretTable -Database $db -Table t -Values $values       # CREATE TABLE t (id INTEGER PRIMARY KEY, otp TEXT) + rows 1..N
        Get-TestColumnCheck -Database $db -Table t -KeyFile $key -Expected $plain   # versions, NULLs, decrypts to the plaintexts?
        Get-TestJobRow / Get-TestJobErrorRow / Set-TestJobRow            # the job tables, read and aged by plain SQL
        Start-TestPwshProcess / Stop-TestPwshProcess                     # a fresh pwsh running in the background (to kill -9)

    Everything here reads and writes the databases by itself (python3's sqlite3 module, psql), never through the
    module under test, so a bug in SecretsPS cannot hide itself. Decryption for the checks uses the independent
    Python reader tests/interop/secretsps_ref.py (its read-sqlite and check-rows subcommands) when python3 with
    `cryptography` is there, else Unprotect-EncryptedValue.
#>

Set-StrictMode -Version Latest

$script:RepoRoot = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
# Invoke-TestPsql and New-TestPostgresDatabase (the same module instance as the test file's, when it is loaded).
Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
# Invoke-TestMariaDbSql and New-TestMariaDbDatabase, for -Provider MySql.
Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
# Invoke-TestProcess, for the python3 helper.
Import-Module (Join-Path $PSScriptRoot 'ServerScript.psm1')
# Import-SecretsPSUnderTest and the key environment, for Enter-DatabaseTestFile (the instance the test file loaded, if any).
Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1')
$script:ReferenceScript = Join-Path $script:RepoRoot 'tests/interop/secretsps_ref.py'
$script:FieldSeparator = [string][char]0x1F
$script:JobColumns = @(
    'id', 'table_name', 'column_name', 'key_column', 'target_version', 'status', 'total_rows', 'processed', 'skipped', 'errors',
    'last_key', 'batch_size', 'commit_every', 'created_at', 'started_at', 'updated_at', 'finished_at', 'owner', 'message')

# ---------------------------------------------------------------------------------------------
# Python (sqlite3 and the reference reader)
# ---------------------------------------------------------------------------------------------

# /usr/bin/python3 starts in ~50 ms; a pyenv shim on PATH can take ~0.5 s per call.
$script:Python = @('/usr/bin/python3', (Get-Command python3 -CommandType Application -ErrorAction Ignore | Select-Object -First 1 -ExpandProperty Source)) |
    Where-Object { $_ -and (Test-Path -LiteralPath $_) } | Select-Object -First 1

$script:PythonHelper = @'
import sys, sqlite3, json

def split_sql(text):
    statements, current = [], ""
    for part in text.split(";"):
        current += part + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \r\n\t;"):
                statements.append(current)
            current = ""
    if current.strip(" \r\n\t;"):
        statements.append(current)
    return statements

def out(lines):
    sys.stdout.buffer.write("".join(line + "\n" for line in lines).encode("utf-8"))

mode = sys.argv[1]
if mode == "sql":
    # sql <db> <separator> <null>; the SQL on stdin; prints the rows of the last statement that returned rows
    db, sep, null = sys.argv[2], sys.argv[3], sys.argv[4]
    con = sqlite3.connect(db, isolation_level=None, timeout=30)
    rows = None
    for statement in split_sql(sys.stdin.buffer.read().decode("utf-8")):
        cursor = con.execute(statement)
        if cursor.description is not None:
            rows = cursor.fetchall()
    con.close()
    out([sep.join(null if v is None else str(v) for v in row) for row in rows or []])
elif mode == "load":
    # load <db> <table> <columns comma-separated> <tsv file> [<SQL run first>]; \N is NULL; one transaction
    db, table, columns, tsv = sys.argv[2], sys.argv[3], sys.argv[4].split(","), sys.argv[5]
    con = sqlite3.connect(db, isolation_level=None, timeout=30)
    if len(sys.argv) > 6 and sys.argv[6]:
        for statement in split_sql(sys.argv[6]):
            con.execute(statement)
    quoted = ", ".join('"' + c + '"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    with open(tsv, encoding="utf-8", newline="\n") as f:
        rows = [tuple(None if v == "\\N" else v for v in line.rstrip("\n").split("\t")) for line in f if line != "\n"]
    con.execute("BEGIN")
    con.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', rows)
    con.execute("COMMIT")
    con.close()
elif mode == "check":
    # check; a JSON spec on stdin: {ref (script), key, version, sqlite: {db, table, column, key} | tsv (file), expected (file)}
    # Decryption is the reference reader's own CLI (read-sqlite / check-rows); this only counts and compares.
    import subprocess
    spec = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    command = [sys.executable, spec["ref"], "read-sqlite" if spec.get("sqlite") else "check-rows",
               "--key-file", spec["key"], "--ignore-environment"]
    if spec.get("version"):
        command += ["--expect-version", spec["version"]]
    feed = None
    if spec.get("sqlite"):
        s = spec["sqlite"]
        command += ["--db", s["db"], "--table", s["table"], "--column", s["column"], "--key-column", s["key"]]
        con = sqlite3.connect("file:" + s["db"] + "?mode=ro", uri=True, timeout=30)
        sql = 'SELECT "%s", "%s" FROM "%s" ORDER BY "%s"' % (s["key"], s["column"], s["table"], s["key"])
        rows = [(str(k), v) for k, v in con.execute(sql)]
        con.close()
    else:
        with open(spec["tsv"], "rb") as f:
            feed = f.read()
        rows = []
        for line in feed.decode("utf-8").split("\n"):
            if line:
                k, v = line.split("\t", 1)
                rows.append((k, None if v == "\\N" else v))
    by_version, nulls = {}, 0
    for k, v in rows:
        if v is None:
            nulls += 1
        else:
            i = v.find(":")
            prefix = v[:i] if i > 0 else "(none)"
            by_version[prefix] = by_version.get(prefix, 0) + 1
    result = subprocess.run(command, input=feed, capture_output=True)
    reader_error = None if result.returncode == 0 else (result.stderr.decode("utf-8", "replace").strip() or "exit %d" % result.returncode)
    mismatches = []
    if reader_error is None:
        plain = {}
        for line in result.stdout.decode("utf-8").split("\n"):
            if line:
                k, h = line.split("\t", 1)
                plain[k] = None if h == "NULL" else bytes.fromhex(h).decode("utf-8")
        if len(plain) != len(rows):
            mismatches.append("<reader returned %d rows for %d>" % (len(plain), len(rows)))
        if spec.get("expected"):
            with open(spec["expected"], encoding="utf-8", newline="\n") as f:
                lines = f.read().split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            expected = {str(i + 1): (None if l == "\\N" else l) for i, l in enumerate(lines)}
            for k, _ in rows:
                if expected.get(k, "<missing>") != plain.get(k, "<unread>"):
                    mismatches.append(k)
            if len(expected) != len(rows):
                mismatches.append("<%d rows, %d expected>" % (len(rows), len(expected)))
    out([json.dumps({"Rows": len(rows), "Nulls": nulls, "ByVersion": by_version, "ReaderError": reader_error,
                     "Mismatches": len(mismatches) if reader_error is None else -1, "FirstMismatches": mismatches[:10]})])
else:
    sys.exit("unknown mode " + mode)
'@

function Test-ReferenceReader {
    <#
        $true when the independent reader can be used: python3 with `cryptography`, and tests/interop/secretsps_ref.py
        with its read-sqlite and check-rows subcommands.
    #>
    if ($null -ne (Get-Variable -Name ReferenceReaderOk -Scope Script -ValueOnly -ErrorAction Ignore)) { return $script:ReferenceReaderOk }
    $script:ReferenceReaderOk = $false
    if ($script:Python -and (Test-Path -LiteralPath $script:ReferenceScript)) {
        $text = [IO.File]::ReadAllText($script:ReferenceScript)
        if ($text.Contains('read-sqlite') -and $text.Contains('check-rows')) {
            $null = & $script:Python -c 'import cryptography.fernet' 2>&1
            $script:ReferenceReaderOk = ($LASTEXITCODE -eq 0)
        }
    }
    return $script:ReferenceReaderOk
}

function Invoke-FixturePython {
    <# Runs the helper above with arguments (and stdin text); returns its stdout lines; throws on failure. #>
    param([Parameter(Mandatory)][AllowEmptyString()][string[]] $Arguments, [string] $InputText = '')
    if (-not $script:Python) { throw 'python3 is needed by the database fixtures (sqlite3 module) and was not found.' }
    $result = Invoke-TestProcess -FilePath $script:Python -Arguments (@('-c', $script:PythonHelper) + $Arguments) -InputText $InputText `
        -TimeoutSeconds 120 -Description "python3 helper '$($Arguments[0])'" -MayFail
    if ($result.Code -ne 0) { throw "python3 helper '$($Arguments[0])' failed ($($result.Code)): $($result.Error)" }
    ConvertTo-TestLines $result.Output
}

# ---------------------------------------------------------------------------------------------
# Test databases
# ---------------------------------------------------------------------------------------------

function New-TestDatabase {
    <#
        A database to run SecretsPS against: -Provider Sqlite (a file in -Folder; the file appears with the first
        SQL) or PostgreSql (a fresh database on -Server, from Start-TestPostgres). Returns
        { Provider; ConnectionString; Path (SQLite); Server (PostgreSQL); Name }.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][ValidateSet('Sqlite', 'PostgreSql', 'MySql')][string] $Provider,
        [string] $Folder,
        [object] $Server,
        [string] $Name
    )
    if ($Provider -eq 'Sqlite') {
        if (-not $Folder) { throw 'New-TestDatabase -Provider Sqlite needs -Folder.' }
        if (-not $Name) { $Name = 'app-' + [guid]::NewGuid().ToString('N').Substring(0, 8) + '.db' }
        $path = Join-Path $Folder $Name
        return [pscustomobject]@{ PSTypeName = 'SecretsPS.TestDatabase'; Provider = 'Sqlite'; ConnectionString = $path; Path = $path; Server = $null; Name = $Name }
    }
    if ($Provider -eq 'MySql') {
        if (-not $Server) { throw 'New-TestDatabase -Provider MySql needs -Server (Start-TestMariaDb).' }
        $cs = New-TestMariaDbDatabase -Server $Server
        $dbName = ($cs -split ';' | Where-Object { $_ -like 'Database=*' }) -replace '^Database=', ''
        return [pscustomobject]@{ PSTypeName = 'SecretsPS.TestDatabase'; Provider = 'MySql'; ConnectionString = $cs; Path = $null; Server = $Server; Name = $dbName }
    }
    if (-not $Server) { throw 'New-TestDatabase -Provider PostgreSql needs -Server (Start-TestPostgres).' }
    $cs = New-TestPostgresDatabase -Server $Server
    $dbName = ($cs -split ';' | Where-Object { $_ -like 'Database=*' }) -replace '^Database=', ''
    [pscustomobject]@{ PSTypeName = 'SecretsPS.TestDatabase'; Provider = 'PostgreSql'; ConnectionString = $cs; Path = $null; Server = $Server; Name = $dbName }
}

function New-TestDatabaseFolder {
    <#
        A new folder for test databases and key files: under /dev/shm (a tmpfs) when there is one, so SQLite's
        fsync per commit costs nothing — a SQLite commit on this machine's disk takes ~25 ms, which would make the
        small-batch runs of these tests 5x slower. Killing the client (kill -9) needs no fsync to be survived:
        the data the process handed to the kernel stays. Remove it with Remove-TestDatabaseFolder.
    #>
    [OutputType([string])]
    param()
    $parent = if (-not $IsWindows -and (Test-Path -LiteralPath '/dev/shm' -PathType Container)) { '/dev/shm' } else { [IO.Path]::GetTempPath() }
    $path = Join-Path $parent ('secretsps-db-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
    try { $null = New-Item -ItemType Directory -Path $path -ErrorAction Stop }
    catch {
        $path = Join-Path ([IO.Path]::GetTempPath()) ('secretsps-db-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
        $null = New-Item -ItemType Directory -Path $path
    }
    return $path
}

function Remove-TestDatabaseFolder {
    param([AllowNull()][string] $Path)
    if ($Path -and (Test-Path -LiteralPath $Path)) { Remove-Item -LiteralPath $Path -Recurse -Force -ErrorAction SilentlyContinue }
}

function Copy-TestDatabase {
    <# A copy of a test database: SQLite copies the file; PostgreSQL makes a new database from it as a template. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Database, [string] $Folder)
    if ($Database.Provider -eq 'Sqlite') {
        if (-not $Folder) { $Folder = Split-Path -Parent $Database.Path }
        $copy = New-TestDatabase -Provider Sqlite -Folder $Folder
        Copy-Item -LiteralPath $Database.Path -Destination $copy.Path
        return $copy
    }
    if ($Database.Provider -eq 'MySql') { throw 'Copy-TestDatabase does not copy MySQL databases.' }
    $name = 'test_' + [guid]::NewGuid().ToString('N')
    $null = Invoke-TestPsql -Server $Database.Server -Database 'postgres' -Sql "CREATE DATABASE `"$name`" TEMPLATE `"$($Database.Name)`""
    [pscustomobject]@{ PSTypeName = 'SecretsPS.TestDatabase'; Provider = 'PostgreSql'; ConnectionString = $Database.Server.ConnectionStringFor($name); Path = $null; Server = $Database.Server; Name = $name }
}

function Invoke-TestSql {
    <#
        Runs SQL (several statements allowed) on a test database, outside SecretsPS; returns the rows of the last
        statement that returns rows as strings, fields joined by -FieldSeparator ('|'), NULL as -NullAs ('\N').
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][object] $Database,
        [Parameter(Mandatory)][string] $Sql,
        [string] $FieldSeparator = '|',
        [string] $NullAs = '\N'
    )
    if ($Database.Provider -eq 'Sqlite') {
        Invoke-FixturePython -Arguments @('sql', $Database.Path, $FieldSeparator, $NullAs) -InputText $Sql
    } elseif ($Database.Provider -eq 'MySql') {
        Invoke-TestMariaDbSql -Server $Database.Server -Database $Database.Name -Sql $Sql -FieldSeparator $FieldSeparator -NullAs $NullAs
    } else {
        Invoke-TestPsql -Server $Database.Server -Database $Database.Name -Sql $Sql -FieldSeparator $FieldSeparator -NullAs $NullAs
    }
}

function Get-TestTableName {
    <# The tables of the database (PostgreSQL: schema public), sorted. #>
    param([Parameter(Mandatory)][object] $Database)
    $sql = if ($Database.Provider -eq 'Sqlite') {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    } elseif ($Database.Provider -eq 'MySql') {
        'SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY CAST(TABLE_NAME AS BINARY)'
    } else {
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    }
    @(Invoke-TestSql -Database $Database -Sql $sql)
}

function Add-TestRow {
    <#
        Inserts many rows fast: -Rows is a list of arrays, one value per -Columns entry ($null = NULL). Values must
        not hold tabs, newlines or backslashes. SQLite: one transaction through python's sqlite3; PostgreSQL: COPY
        from a temporary file. -BeforeSql (e.g. the CREATE TABLE) runs first, in the same call.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Database,
        [Parameter(Mandatory)][string] $Table,
        [Parameter(Mandatory)][string[]] $Columns,
        [Parameter(Mandatory)][AllowEmptyCollection()][object[]] $Rows,
        [string] $BeforeSql
    )
    if ($Rows.Count -eq 0) {
        if ($BeforeSql) { $null = Invoke-TestSql -Database $Database -Sql $BeforeSql }
        return
    }
    $sb = [Text.StringBuilder]::new()
    foreach ($row in $Rows) {
        $first = $true
        foreach ($v in $row) {
            if (-not $first) { $null = $sb.Append("`t") }
            $first = $false
            if ($null -eq $v) { $null = $sb.Append('\N') }
            else {
                $s = [string]$v
                if ($s.IndexOfAny([char[]]"`t`n`r\") -ge 0) { throw "Add-TestRow: a value holds a tab, newline or backslash." }
                $null = $sb.Append($s)
            }
        }
        $null = $sb.Append("`n")
    }
    $file = Join-Path ([IO.Path]::GetTempPath()) ('sps-rows-' + [guid]::NewGuid().ToString('N') + '.tsv')
    [IO.File]::WriteAllText($file, $sb.ToString(), [Text.UTF8Encoding]::new($false))
    try {
        if ($Database.Provider -eq 'Sqlite') {
            $null = Invoke-FixturePython -Arguments @('load', $Database.Path, $Table, ($Columns -join ','), $file, [string]$BeforeSql)
        } elseif ($Database.Provider -eq 'MySql') {
            # Multi-row INSERTs of literals (values hold no tab, newline or backslash; quotes are doubled).
            $cols = ($Columns | ForEach-Object { '"' + $_ + '"' }) -join ', '
            $sql = [Text.StringBuilder]::new()
            if ($BeforeSql) { $null = $sql.Append($BeforeSql.TrimEnd().TrimEnd(';')).Append(";`n") }
            for ($start = 0; $start -lt $Rows.Count; $start += 500) {
                $chunk = $Rows[$start..([Math]::Min($start + 500, $Rows.Count) - 1)]
                $values = foreach ($row in $chunk) { '(' + (($row | ForEach-Object { if ($null -eq $_) { 'NULL' } else { "'" + ([string]$_).Replace("'", "''") + "'" } }) -join ', ') + ')' }
                $null = $sql.Append("INSERT INTO `"$Table`" ($cols) VALUES ").Append($values -join ', ').Append(";`n")
            }
            $null = Invoke-TestSql -Database $Database -Sql $sql.ToString()
        } else {
            # The server reads the file (it runs as 'postgres'): make it readable by everyone.
            if (-not $IsWindows) { [IO.File]::SetUnixFileMode($file, [IO.UnixFileMode]'UserRead, UserWrite, GroupRead, OtherRead') }
            $cols = ($Columns | ForEach-Object { '"' + $_ + '"' }) -join ', '
            $before = if ($BeforeSql) { $BeforeSql.TrimEnd().TrimEnd(';') + '; ' } else { '' }
            $null = Invoke-TestSql -Database $Database -Sql "$before COPY `"$Table`" ($cols) FROM '$file' WITH (FORMAT text, ENCODING 'UTF8')"
        }
    } finally { Remove-Item -LiteralPath $file -Force -ErrorAction Ignore }
}

function New-TestSecretTable {
    <#
        CREATE TABLE <Table> (id INTEGER PRIMARY KEY, <Column> TEXT) (or -Definition), then rows id = 1..N with the
        -Values in order ($null = NULL). Portable DDL: the same on SQLite and PostgreSQL.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Database,
        [Parameter(Mandatory)][string] $Table,
        [string] $Column = 'otp',
        [AllowEmptyCollection()][AllowNull()][object[]] $Values = @(),
        [string] $Definition
    )
    if (-not $Definition) { $Definition = "id INTEGER PRIMARY KEY, `"$Column`" TEXT" }
    $rows = [Collections.Generic.List[object]]::new($Values.Count)
    for ($i = 0; $i -lt $Values.Count; $i++) { $rows.Add(@(($i + 1), $Values[$i])) }
    Add-TestRow -Database $Database -Table $Table -Columns 'id', $Column -Rows $rows.ToArray() -BeforeSql "CREATE TABLE `"$Table`" ($Definition)"
}

function Get-TestColumnValue {
    <# The column's values in key order: objects { Key (string); Value (string or $null) }. #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Database,
        [Parameter(Mandatory)][string] $Table,
        [string] $Column = 'otp',
        [string] $KeyColumn = 'id'
    )
    $sep = $script:FieldSeparator
    foreach ($line in Invoke-TestSql -Database $Database -Sql "SELECT `"$KeyColumn`", `"$Column`" FROM `"$Table`" ORDER BY `"$KeyColumn`"" -FieldSeparator $sep -NullAs "`u{1E}") {
        $k, $v = $line -split $sep, 2
        [pscustomobject]@{ Key = $k; Value = if ($v -eq "`u{1E}") { $null } else { $v } }
    }
}

function Get-TestDatabaseState {
    <#
        Text that changes when anything in the database changes: for SQLite the file's SHA-256 (and the
        journal/WAL files present); for PostgreSQL the table list and every row of -Table.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Database, [string[]] $Table = @())
    if ($Database.Provider -eq 'Sqlite') {
        $hash = (Get-FileHash -LiteralPath $Database.Path -Algorithm SHA256).Hash
        $side = @(Get-ChildItem -LiteralPath (Split-Path -Parent $Database.Path) -Filter ((Split-Path -Leaf $Database.Path) + '-*') | ForEach-Object Name)
        return "$hash;$($side -join ',')"
    }
    $parts = @((Get-TestTableName $Database) -join ',')
    if ($Database.Provider -eq 'MySql') {
        # CHECKSUM TABLE of every table: any row written, even with the same value, shows there.
        foreach ($t in Get-TestTableName $Database) { $parts += @(Invoke-TestSql -Database $Database -Sql "CHECKSUM TABLE `"$t`" EXTENDED") -join ',' }
    }
    foreach ($t in $Table) { $parts += @(Invoke-TestSql -Database $Database -Sql "SELECT * FROM `"$t`" ORDER BY 1") -join "`n" }
    $parts -join "`n--`n"
}

# ---------------------------------------------------------------------------------------------
# The job tables (FORMATS.md §5), read and changed by plain SQL
# ---------------------------------------------------------------------------------------------

function Get-TestJobRow {
    <# Rows of the job table (newest first) as objects with the columns of FORMATS.md §5 (all text; NULL = $null). #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Database, [long] $Id, [string] $JobTable = 'reencrypt_jobs', [switch] $IfExists)
    if ($IfExists -and $JobTable -notin (Get-TestTableName $Database)) { return }
    $where = if ($Id) { " WHERE id = $Id" } else { '' }
    $sep = $script:FieldSeparator
    $sql = "SELECT $($script:JobColumns -join ', ') FROM `"$JobTable`"$where ORDER BY id DESC"
    foreach ($line in Invoke-TestSql -Database $Database -Sql $sql -FieldSeparator $sep -NullAs "`u{1E}") {
        $fields = $line -split $sep
        $o = [ordered]@{}
        for ($i = 0; $i -lt $script:JobColumns.Count; $i++) {
            $o[$script:JobColumns[$i]] = if ($fields[$i] -eq "`u{1E}") { $null } else { $fields[$i] }
        }
        [pscustomobject]$o
    }
}

function Get-TestJobErrorRow {
    <# Rows of the error table: { job_id; row_key; reason; created_at }. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Database, [long] $JobId, [string] $ErrorTable = 'reencrypt_job_errors', [switch] $IfExists)
    if ($IfExists -and $ErrorTable -notin (Get-TestTableName $Database)) { return }
    $where = if ($JobId) { " WHERE job_id = $JobId" } else { '' }
    $sep = $script:FieldSeparator
    foreach ($line in Invoke-TestSql -Database $Database -Sql "SELECT job_id, row_key, reason, created_at FROM `"$ErrorTable`"$where ORDER BY job_id, row_key" -FieldSeparator $sep) {
        $f = $line -split $sep
        [pscustomobject]@{ job_id = $f[0]; row_key = $f[1]; reason = $f[2]; created_at = $f[3] }
    }
}

function Get-TestJobTableText {
    <# Every field of both job tables (which must exist) as one text: for "never holds a value, a key or a password" checks. #>
    param([Parameter(Mandatory)][object] $Database)
    # One round trip: both tables as text rows (they must exist).
    $text = if ($Database.Provider -eq 'MySql') { 'CHAR' } else { 'TEXT' }
    $jobs = ($script:JobColumns | ForEach-Object { "COALESCE(CAST($_ AS $text), '')" }) -join " || '|' || "
    $errors = "COALESCE(CAST(job_id AS $text), '') || '|' || COALESCE(row_key, '') || '|' || reason || '|' || CAST(created_at AS $text)"
    @(Invoke-TestSql -Database $Database -Sql "SELECT $jobs FROM reencrypt_jobs UNION ALL SELECT $errors FROM reencrypt_job_errors") -join "`n"
}

function ConvertTo-TestSqlTime {
    <# A UTC time as a SQL literal the job table's column accepts (SQLite text; PostgreSQL timestamptz). #>
    param([Parameter(Mandatory)][object] $Database, [Parameter(Mandatory)][DateTime] $Time)
    $t = $Time.ToUniversalTime().ToString('yyyy-MM-dd HH:mm:ss.ffffff', [Globalization.CultureInfo]::InvariantCulture)
    if ($Database.Provider -in 'Sqlite', 'MySql') { "'$t'" } else { "'$t+00'::timestamptz" }
}

function Set-TestJobRow {
    <#
        Changes a job row by SQL, as another runner (or time) would: -Status, -Owner, -UpdatedAt / -FinishedAt
        (UTC times; -ClearFinishedAt sets NULL).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Database,
        [Parameter(Mandatory)][long] $Id,
        [string] $Status,
        [string] $Owner,
        [Nullable[DateTime]] $UpdatedAt,
        [Nullable[DateTime]] $FinishedAt,
        [switch] $ClearFinishedAt,
        [string] $JobTable = 'reencrypt_jobs'
    )
    $set = @()
    if ($Status) { $set += "status = '$Status'" }
    if ($Owner) { $set += "owner = '$Owner'" }
    if ($UpdatedAt) { $set += 'updated_at = ' + (ConvertTo-TestSqlTime $Database $UpdatedAt) }
    if ($FinishedAt) { $set += 'finished_at = ' + (ConvertTo-TestSqlTime $Database $FinishedAt) }
    if ($ClearFinishedAt) { $set += 'finished_at = NULL' }
    if (-not $set) { return }
    $null = Invoke-TestSql -Database $Database -Sql "UPDATE `"$JobTable`" SET $($set -join ', ') WHERE id = $Id"
}

# ---------------------------------------------------------------------------------------------
# Values: the plaintexts of a fixture, and what a column decrypts to
# ---------------------------------------------------------------------------------------------

function New-TestPlaintext {
    <# N distinct plaintexts with non-ASCII text, otp-<i>-ção-<tag>, for keys 1..N; $null (a NULL row) at each of -NullKeys. #>
    [OutputType([object[]])]
    param([Parameter(Mandatory)][int] $Count, [string] $Tag = 'x', [int[]] $NullKeys = @())
    $list = [object[]]::new($Count)
    for ($i = 0; $i -lt $Count; $i++) { $list[$i] = "otp-$($i + 1)-ção-$Tag" }
    foreach ($k in $NullKeys) { $list[$k - 1] = $null }
    , $list
}

function New-TestStoredValue {
    <#
        The stored values of plaintexts (keys 1..N), made with Protect-EncryptedValue (piped, one call per version):
        $null stays $null; -Version picks the key version, -VersionOf @{ key = 'v2' } overrides it per key.
    #>
    [OutputType([object[]])]
    param(
        [Parameter(Mandatory)][AllowEmptyCollection()][AllowNull()][object[]] $Plaintext,
        [Parameter(Mandatory)][string] $KeyFile,
        [string] $Version = 'v1',
        [hashtable] $VersionOf = @{}
    )
    $values = [object[]]::new($Plaintext.Count)
    $byVersion = @{}
    for ($i = 0; $i -lt $Plaintext.Count; $i++) {
        if ($null -eq $Plaintext[$i]) { continue }
        $v = if ($VersionOf.ContainsKey($i + 1)) { $VersionOf[$i + 1] } else { $Version }
        if (-not $byVersion.ContainsKey($v)) { $byVersion[$v] = [Collections.Generic.List[int]]::new() }
        $byVersion[$v].Add($i)
    }
    foreach ($v in $byVersion.Keys) {
        $idx = $byVersion[$v]
        $texts = [string[]]::new($idx.Count)
        for ($j = 0; $j -lt $idx.Count; $j++) { $texts[$j] = $Plaintext[$idx[$j]] }
        $enc = @($texts | Protect-EncryptedValue -Path $KeyFile -Version $v -ErrorAction Stop)
        if ($enc.Count -ne $idx.Count) { throw "Protect-EncryptedValue returned $($enc.Count) values for $($idx.Count)." }
        for ($j = 0; $j -lt $idx.Count; $j++) { $values[$idx[$j]] = $enc[$j] }
    }
    , $values
}

function New-TestRotatedKeyFile {
    <# A key file <Folder>/.env.crypto with v1, rotated so that v2 is active (both by the module). Returns its path. #>
    [OutputType([string])]
    param([Parameter(Mandatory)][string] $Folder)
    if (-not (Test-Path -LiteralPath $Folder)) { $null = New-Item -ItemType Directory -Path $Folder -Force }
    $path = Join-Path $Folder '.env.crypto'
    $null = New-EncryptionConfig -Path $path -Version v1 -WarningAction SilentlyContinue -ErrorAction Stop
    $null = Invoke-KeyRotation -Path $path -Confirm:$false -WarningAction SilentlyContinue -ErrorAction Stop
    return $path
}

function Get-TestColumnCheck {
    <#
        Reads a whole column outside SecretsPS and checks it: Rows, Nulls, ByVersion (prefix -> count; '(none)' for a
        value without '<version>:'), ReaderError (why the reader refused: a value that does not decrypt or, with
        -Version, is stored under another version; $null when all is well), and — with -Expected (the plaintexts of
        keys 1..N in order; $null = the row must be NULL) — Mismatches (rows whose plaintext differs, missing or extra
        rows) and FirstMismatches (their keys).
        The reader is the independent Python one (secretsps_ref.py read-sqlite / check-rows) when available, else
        Unprotect-EncryptedValue; Reader says which.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Database,
        [Parameter(Mandatory)][string] $Table,
        [string] $Column = 'otp',
        [string] $KeyColumn = 'id',
        [Parameter(Mandatory)][string] $KeyFile,
        [AllowNull()][object[]] $Expected,
        [string] $Version,
        [ValidateSet('Auto', 'Reference', 'Module')][string] $Reader = 'Auto'
    )
    $useReference = $Reader -eq 'Reference' -or ($Reader -eq 'Auto' -and (Test-ReferenceReader))
    if ($useReference) {
        $temp = [IO.Path]::GetTempPath()
        $files = @()
        try {
            $spec = @{ ref = $script:ReferenceScript; key = $KeyFile; version = $Version; expected = $null; sqlite = $null; tsv = $null }
            if ($null -ne $Expected) {
                $file = Join-Path $temp ('sps-expected-' + [guid]::NewGuid().ToString('N') + '.txt'); $files += $file
                $lines = [string[]]::new($Expected.Count)
                for ($i = 0; $i -lt $Expected.Count; $i++) { $lines[$i] = if ($null -eq $Expected[$i]) { '\N' } else { [string]$Expected[$i] } }
                [IO.File]::WriteAllLines($file, $lines, [Text.UTF8Encoding]::new($false))
                $spec.expected = $file
            }
            if ($Database.Provider -eq 'Sqlite') {
                $spec.sqlite = @{ db = $Database.Path; table = $Table; column = $Column; key = $KeyColumn }
            } elseif ($Database.Provider -eq 'MySql') {
                $file = Join-Path $temp ('sps-column-' + [guid]::NewGuid().ToString('N') + '.tsv'); $files += $file
                $lines = @(Invoke-TestSql -Database $Database -Sql "SELECT `"$KeyColumn`", `"$Column`" FROM `"$Table`" ORDER BY `"$KeyColumn`"" -FieldSeparator "`t" -NullAs '\N')
                [IO.File]::WriteAllText($file, ($lines | ForEach-Object { $_ + "`n" }) -join '', [Text.UTF8Encoding]::new($false))
                $spec.tsv = $file
            } else {
                # The server writes the file (as 'postgres') into the world-writable temp folder.
                $file = Join-Path $temp ('sps-column-' + [guid]::NewGuid().ToString('N') + '.tsv'); $files += $file
                $null = Invoke-TestSql -Database $Database -Sql "COPY (SELECT `"$KeyColumn`", `"$Column`" FROM `"$Table`" ORDER BY `"$KeyColumn`") TO '$file' WITH (FORMAT text, ENCODING 'UTF8')"
                $spec.tsv = $file
            }
            $json = Invoke-FixturePython -Arguments @('check') -InputText ($spec | ConvertTo-Json -Compress)
        } finally { foreach ($f in $files) { Remove-Item -LiteralPath $f -Force -ErrorAction Ignore } }
        $r = $json | ConvertFrom-Json -AsHashtable
        return [pscustomobject]@{
            Rows = $r.Rows; Nulls = $r.Nulls; ByVersion = $r.ByVersion; ReaderError = $r.ReaderError
            Mismatches = $r.Mismatches; FirstMismatches = @($r.FirstMismatches); Reader = 'secretsps_ref.py'
        }
    }

    # Without the reference reader: the module's own Unprotect-EncryptedValue.
    $rows = @(Get-TestColumnValue -Database $Database -Table $Table -Column $Column -KeyColumn $KeyColumn)
    $byVersion = @{}
    $nulls = 0
    $readerError = $null
    $plain = @{}
    foreach ($r in $rows) {
        if ($null -eq $r.Value) { $nulls++; $plain[$r.Key] = $null; continue }
        $i = $r.Value.IndexOf(':')
        $v = if ($i -gt 0) { $r.Value.Substring(0, $i) } else { '(none)' }
        $byVersion[$v] = 1 + $(if ($byVersion.ContainsKey($v)) { $byVersion[$v] } else { 0 })
        if ($Version -and $v -ne $Version -and -not $readerError) { $readerError = "row '$($r.Key)': stored under version '$v', expected '$Version'" }
        try { $plain[$r.Key] = Unprotect-EncryptedValue -Path $KeyFile -Value $r.Value -ErrorAction Stop }
        catch { if (-not $readerError) { $readerError = "row '$($r.Key)': $($_.FullyQualifiedErrorId.Split(',')[0])" } }
    }
    $mismatches = [Collections.Generic.List[string]]::new()
    if ($null -ne $Expected -and -not $readerError) {
        foreach ($r in $rows) {
            $n = [int]$r.Key - 1
            $want = if ($n -ge 0 -and $n -lt $Expected.Count) { $Expected[$n] } else { "<no expected value for key $($r.Key)>" }
            if (-not [string]::Equals($want, $plain[$r.Key], [StringComparison]::Ordinal)) { $mismatches.Add($r.Key) }
        }
        if ($Expected.Count -ne $rows.Count) { $mismatches.Add("<$($rows.Count) rows, $($Expected.Count) expected>") }
    }
    [pscustomobject]@{
        Rows = $rows.Count; Nulls = $nulls; ByVersion = $byVersion; ReaderError = $readerError
        Mismatches = if ($readerError) { -1 } else { $mismatches.Count }; FirstMismatches = @($mismatches | Select-Object -First 10)
        Reader = 'Unprotect-EncryptedValue'
    }
}

# ---------------------------------------------------------------------------------------------
# Streams: everything a command showed, as text (for "the password never appears" checks)
# ---------------------------------------------------------------------------------------------

function ConvertTo-TestRecordText {
    <# Everything an output/stream record carries, as text: for ErrorRecords the message, id, target, category, details and the whole exception chain. #>
    param([AllowNull()][object] $Record)
    if ($null -eq $Record) { return '' }
    if ($Record -is [Management.Automation.ErrorRecord]) {
        @(
            $Record.ToString()
            $Record.FullyQualifiedErrorId
            [string]$Record.TargetObject
            $Record.CategoryInfo.ToString()
            if ($Record.ErrorDetails) { $Record.ErrorDetails.Message; $Record.ErrorDetails.RecommendedAction }
            if ($Record.Exception) { $Record.Exception.ToString() }
            ($Record | Format-List * -Force | Out-String -Width 500)
        ) -join "`n"
    } elseif ($Record -is [Management.Automation.InformationalRecord]) {
        $Record.Message
    } elseif ($Record -is [Management.Automation.InformationRecord]) {
        [string]$Record.MessageData
    } else {
        ($Record | Format-List * -Force | Out-String -Width 500)
    }
}

function Invoke-TestCapture {
    <#
        Runs the block with every stream merged (*>&1) and a thrown error caught; returns { Output (non-record
        objects); Records (stream records and errors); Thrown (the terminating ErrorRecord or $null); Text (all of it
        as text, with the global $Error entries added since the start) }.
    #>
    param([Parameter(Mandatory)][scriptblock] $ScriptBlock)
    $errorsBefore = $global:Error.Count
    $all = [Collections.Generic.List[object]]::new()
    $thrown = $null
    try { foreach ($o in (& $ScriptBlock *>&1)) { $all.Add($o) } }
    catch { $thrown = $_ }
    $newErrors = @($global:Error | Select-Object -First ([Math]::Max(0, $global:Error.Count - $errorsBefore)))
    $records = @($all | Where-Object { $_ -is [Management.Automation.ErrorRecord] -or $_ -is [Management.Automation.InformationalRecord] -or $_ -is [Management.Automation.InformationRecord] })
    $output = @($all | Where-Object { $_ -isnot [Management.Automation.ErrorRecord] -and $_ -isnot [Management.Automation.InformationalRecord] -and $_ -isnot [Management.Automation.InformationRecord] })
    $text = @(
        foreach ($o in $all) { ConvertTo-TestRecordText $o }
        ConvertTo-TestRecordText $thrown
        foreach ($e in $newErrors) { ConvertTo-TestRecordText $e }
    ) -join "`n"
    [pscustomobject]@{ Output = $output; Records = $records; Thrown = $thrown; Text = $text }
}

# ---------------------------------------------------------------------------------------------
# A fresh pwsh in the background (to be stopped with kill -9) and polling
# ---------------------------------------------------------------------------------------------

function Get-FixturePwshCommandLine {
    $process = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') { return @($process, (Join-Path $PSHOME 'pwsh.dll')) }
    @($process)
}

function Start-TestPwshProcess {
    <#
        Starts `pwsh -NoProfile -NonInteractive -Command <Command>` in the background with stdin closed and
        stdout/stderr read asynchronously; SECRETSPS_MODULE is passed on. Returns { Process; Id; StdOut; StdErr }
        (StdOut/StdErr are tasks). Stop it with Stop-TestPwshProcess.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Command, [string] $WorkingDirectory, [hashtable] $Environment = @{})
    $cmd = Get-FixturePwshCommandLine
    $psi = [Diagnostics.ProcessStartInfo]::new($cmd[0])
    foreach ($a in @($cmd | Select-Object -Skip 1)) { $psi.ArgumentList.Add($a) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $Command) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.StandardOutputEncoding = [Text.UTF8Encoding]::new($false)
    $psi.StandardErrorEncoding = [Text.UTF8Encoding]::new($false)
    $psi.WorkingDirectory = if ($WorkingDirectory) { $WorkingDirectory } else { (Get-Location -PSProvider FileSystem).ProviderPath }
    $psi.Environment['NO_COLOR'] = '1'
    if ($env:SECRETSPS_MODULE) { $psi.Environment['SECRETSPS_MODULE'] = $env:SECRETSPS_MODULE }
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
    $process = [Diagnostics.Process]::Start($psi)
    $process.StandardInput.Close()
    [pscustomobject]@{
        Process = $process
        Id      = $process.Id
        StdOut  = $process.StandardOutput.ReadToEndAsync()
        StdErr  = $process.StandardError.ReadToEndAsync()
    }
}

function Stop-TestPwshProcess {
    <# kill -9 (SIGKILL) the process (and, with -Tree, its children); waits for it to be gone. Safe to call twice. #>
    param([Parameter(Mandatory)][AllowNull()][object] $Handle, [switch] $Tree)
    if ($null -eq $Handle) { return }
    $p = $Handle.Process
    try {
        if (-not $p.HasExited) {
            if ($IsWindows -or $Tree) { $p.Kill($true) } else { & kill -9 $p.Id 2>$null }
            $null = $p.WaitForExit(10000)
        }
    } catch { }
}

function Wait-TestCondition {
    <# Polls the block every -IntervalMs until it returns something true; returns the last value, or throws after -TimeoutSeconds. #>
    param(
        [Parameter(Mandatory)][scriptblock] $Condition,
        [double] $TimeoutSeconds = 30,
        [int] $IntervalMs = 25,
        [string] $Because = 'the condition'
    )
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ($true) {
        $value = & $Condition
        if ($value) { return $value }
        if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out after $TimeoutSeconds s waiting for $Because." }
        Start-Sleep -Milliseconds $IntervalMs
    }
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL, per file
# ---------------------------------------------------------------------------------------------

function Get-TestProviderCases {
    <# The -ForEach cases for "on SQLite and on PostgreSQL" Describe/Context blocks. #>
    @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' })
}

function Enter-DatabaseTestFile {
    <#
        What a re-encryption test file's BeforeAll sets up: the module under test imported, plain-text output, no key
        variables and no SECRETSPS_CONNECTION_STRING from the caller's session, a folder for SQLite files and one
        throwaway PostgreSQL (and, with -MariaDb, one MariaDB). Returns { Folder; Postgres; MariaDb; ... } for
        Exit-DatabaseTestFile in AfterAll. When a server fails to start, what was set up is undone before the error is
        thrown (AfterAll gets no object to undo).
    #>
    [CmdletBinding()]
    param([switch] $MariaDb)
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $file = [pscustomobject]@{
        PSTypeName        = 'SecretsPS.DatabaseTestFile'
        SavedEnvironment  = Save-KeyEnvironment
        SavedConnection   = $env:SECRETSPS_CONNECTION_STRING
        Folder            = $null
        Postgres          = $null
        MariaDb           = $null
    }
    Clear-KeyEnvironment
    $env:SECRETSPS_CONNECTION_STRING = $null
    $file.Folder = New-TestDatabaseFolder
    try {
        $file.Postgres = Start-TestPostgres
        if ($MariaDb) { $file.MariaDb = Start-TestMariaDb }
    }
    catch {
        Exit-DatabaseTestFile $file
        throw
    }
    $file
}

function Exit-DatabaseTestFile {
    <# Undoes Enter-DatabaseTestFile: stops its servers, removes the folder, puts the environment back. Safe with $null. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][AllowNull()][object] $File)
    if ($null -eq $File) { return }
    try {
        Stop-TestPostgres -Server $File.Postgres
        Stop-TestMariaDb -Server $File.MariaDb
        Remove-TestDatabaseFolder $File.Folder
    } finally {
        Restore-KeyEnvironment $File.SavedEnvironment
        $env:SECRETSPS_CONNECTION_STRING = $File.SavedConnection
    }
}

Export-ModuleMember -Function New-TestDatabaseFolder, Remove-TestDatabaseFolder, New-TestDatabase, Copy-TestDatabase, Invoke-TestSql, Get-TestTableName, Add-TestRow, New-TestSecretTable,
    Get-TestColumnValue, Get-TestDatabaseState, Get-TestJobRow, Get-TestJobErrorRow, Get-TestJobTableText, ConvertTo-TestSqlTime,
    Set-TestJobRow, New-TestPlaintext, New-TestStoredValue, New-TestRotatedKeyFile, Get-TestColumnCheck, Test-ReferenceReader, ConvertTo-TestRecordText,
    Invoke-TestCapture, Start-TestPwshProcess, Stop-TestPwshProcess, Wait-TestCondition, Get-TestProviderCases,
    Enter-DatabaseTestFile, Exit-DatabaseTestFile
