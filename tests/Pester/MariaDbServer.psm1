# A throwaway MariaDB for Pester, made, started and stopped by tests/servers/mariadb.sh (the one script the xunit suite
# and the benchmark use too): a data directory in a fresh temporary folder, mariadbd on a free port on 127.0.0.1 with
# its own socket; Stop-TestMariaDb stops it and deletes the folder. SQL runs through /usr/bin/python3's PyMySQL
# (Debian's python3-pymysql) as the user 'test', which has every right.
#
#   $my = Start-TestMariaDb                           # .Available, .Reason, .Port, .Folder, .Version; throws when it cannot start
#   $cs = New-TestMariaDbDatabase -Server $my         # fresh utf8mb4 database (utf8mb4_general_ci); returns its connection string
#   Invoke-TestMariaDbSql -Server $my -Database $cs -Sql 'SELECT id, secret FROM t ORDER BY id'   # -> '1|abc', '2|\N'
#   Restart-TestMariaDb -Server $my [-Kill]           # stop (SIGTERM, or SIGKILL: a crash) and start again: same port, same data
#   Stop-TestMariaDb -Server $my                      # in AfterAll
#
# Where the machine has no MariaDB, Start-TestMariaDb returns Available = $false with a Reason that says to install
# mariadb-server: a test file must fail with it (Assert-TestMariaDb), never skip.

Set-StrictMode -Version Latest

Import-Module (Join-Path $PSScriptRoot 'ServerScript.psm1')

$script:Python = '/usr/bin/python3'

$script:SqlHelper = @'
import sys, pymysql
from pymysql.constants import CLIENT
port, db, sep, null = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
con = pymysql.connect(host="127.0.0.1", port=port, user="test", database=db or None, charset="utf8mb4",
                      autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS)
cur = con.cursor()
# Standard SQL in the tests' statements: "double-quoted" names and || as in SQLite and PostgreSQL.
cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'")
cur.execute(sys.stdin.buffer.read().decode("utf-8"))
rows = None
while True:
    if cur.description is not None:
        rows = cur.fetchall()
    if not cur.nextset():
        break
con.close()
def text(v):
    if v is None: return null
    if isinstance(v, (bytes, bytearray)): return v.hex().upper()
    return str(v)
sys.stdout.buffer.write("".join(sep.join(text(v) for v in row) + "\n" for row in rows or []).encode("utf-8"))
'@

# tests/servers/mariadb.sh with these arguments; returns its stdout, throws with what it said on failure.
function Invoke-ServerScript([string[]] $Arguments) {
    (Invoke-TestServerScript -Name 'mariadb.sh' -Arguments $Arguments).Output
}

function Resolve-DatabaseName([string] $Database) {
    if ($Database -match '=') {
        foreach ($part in $Database -split ';') {
            $pair = $part -split '=', 2
            if ($pair.Count -eq 2 -and $pair[0].Trim() -in @('Database', 'DB')) { return $pair[1].Trim() }
        }
        return ''
    }
    return $Database
}

<#
.SYNOPSIS
Throws the reason (install mariadb-server) unless the server is available: what a MariaDB test file calls in BeforeAll.
#>
function Assert-TestMariaDb {
    param([Parameter(Mandatory)] [AllowNull()] [object] $Server)
    if ($null -eq $Server -or -not $Server.Available) { throw "MariaDB is not available: $(if ($Server) { $Server.Reason })" }
    if ($Server.Removed) { throw 'This MariaDB server was stopped and its folder removed (Stop-TestMariaDb).' }
}

<#
.SYNOPSIS
Starts a throwaway MariaDB on a free port on 127.0.0.1 and returns an object describing it.
#>
function Start-TestMariaDb {
    [CmdletBinding()]
    param()
    $server = [pscustomobject]@{
        PSTypeName = 'SecretsPS.TestMariaDb'; Available = $false; Reason = $null; Port = 0; Folder = $null; Version = $null; Removed = $false
    }
    $server | Add-Member -MemberType ScriptMethod -Name ConnectionStringFor -Value {
        param([string] $Database, [string] $User = 'test') "Server=127.0.0.1;Port=$($this.Port);User ID=$User;Database=$Database"
    }
    $found = Invoke-TestServerScript -Name 'mariadb.sh' -Arguments 'bin' -MayFail
    if ($found.Code -ne 0) {
        $server.Reason = ($found.Error + $found.Output).Trim()
        return $server
    }
    if (-not (Test-Path -LiteralPath $script:Python)) { $server.Reason = "$($script:Python) is needed (with python3-pymysql)."; return $server }
    $null = & $script:Python -c 'import pymysql' 2>&1
    if ($LASTEXITCODE -ne 0) { $server.Reason = 'PyMySQL is needed: apt-get install -y python3-pymysql (.ci/run does).'; return $server }
    $server.Version = (Invoke-ServerScript @('version')).Trim()
    $server.Folder = Join-Path ([IO.Path]::GetTempPath()) ('secretsps-mariadb-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
    $null = New-Item -ItemType Directory -Path $server.Folder
    try {
        $null = Invoke-ServerScript @('create', $server.Folder)
        $server.Port = [int](Invoke-ServerScript @('start', $server.Folder, 'auto', '--innodb-flush-log-at-trx-commit=2')).Trim()
    } catch {
        try { $null = Invoke-ServerScript @('stop', $server.Folder, 'kill') } catch { }
        Remove-Item -LiteralPath $server.Folder -Recurse -Force -ErrorAction SilentlyContinue
        throw
    }
    $server.Available = $true
    return $server
}

<#
.SYNOPSIS
Creates a fresh utf8mb4 database (case- and accent-insensitive utf8mb4_general_ci, as applications make them) and returns its connection string.
#>
function New-TestMariaDbDatabase {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [object] $Server, [ValidatePattern('^[a-z_][a-z0-9_]{0,63}$')] [string] $Name = ('test_' + [guid]::NewGuid().ToString('N')))
    Assert-TestMariaDb $Server
    $null = Invoke-TestMariaDbSql -Server $Server -Database '' -Sql "CREATE DATABASE `"$Name`" CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
    return $Server.ConnectionStringFor($Name)
}

<#
.SYNOPSIS
Runs SQL (several statements allowed; "double-quoted" names and ||) and returns the rows of the last statement that
returns rows as strings, fields joined by -FieldSeparator ('|'), NULL as -NullAs ('\N'), bytes as hexadecimal.
#>
function Invoke-TestMariaDbSql {
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)] [object] $Server,
        [AllowEmptyString()] [string] $Database = '',
        [Parameter(Mandatory)] [string] $Sql,
        [string] $FieldSeparator = '|',
        [string] $NullAs = '\N'
    )
    Assert-TestMariaDb $Server
    $arguments = @('-c', $script:SqlHelper, "$($Server.Port)", (Resolve-DatabaseName $Database), $FieldSeparator, $NullAs)
    $result = Invoke-TestProcess -FilePath $script:Python -Arguments $arguments -InputText $Sql -TimeoutSeconds 120 -Description 'MariaDB SQL' -MayFail
    if ($result.Code -ne 0) { throw "MariaDB SQL failed: $($result.Error)" }
    ConvertTo-TestLines $result.Output
}

<#
.SYNOPSIS
Stops the server (SIGTERM; with -Kill, SIGKILL: a crash) and starts it again on the same port with the same data.
#>
function Restart-TestMariaDb {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [object] $Server, [switch] $Kill)
    Assert-TestMariaDb $Server
    $null = Invoke-ServerScript @('stop', $Server.Folder, $(if ($Kill) { 'kill' } else { 'fast' }))
    $null = Invoke-ServerScript @('start', $Server.Folder, "$($Server.Port)", '--innodb-flush-log-at-trx-commit=2')
}

<#
.SYNOPSIS
Stops the server and removes its folder. Does nothing for an unavailable or already removed server, so it is safe in AfterAll.
#>
function Stop-TestMariaDb {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [AllowNull()] [object] $Server)
    if ($null -eq $Server -or -not $Server.Available -or $Server.Removed) { return }
    try { $null = Invoke-ServerScript @('stop', $Server.Folder) }
    finally {
        Remove-Item -LiteralPath $Server.Folder -Recurse -Force -ErrorAction SilentlyContinue
        $Server.Removed = $true
    }
}

Export-ModuleMember -Function Start-TestMariaDb, Assert-TestMariaDb, New-TestMariaDbDatabase, Invoke-TestMariaDbSql, Restart-TestMariaDb, Stop-TestMariaDb
