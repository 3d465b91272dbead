# A throwaway PostgreSQL cluster for Pester, made, started and stopped by tests/servers/postgres.sh (the one script
# the xunit suite and the benchmark use too): a fresh temporary folder, a free random port on 127.0.0.1, fsync off;
# Stop-TestPostgres stops it (pg_ctl -m fast) and deletes the folder. psql runs as the 'postgres' user when root.
#
#   $pg = Start-TestPostgres                       # .Available, .Reason, .Port, .Folder, .BinFolder, .MajorVersion, .ConnectionString ('postgres' db)
#   $cs = New-TestPostgresDatabase -Server $pg     # fresh uniquely named database; returns its connection string
#   Invoke-TestPsql -Server $pg -Database $cs -Sql 'SELECT id, value FROM t ORDER BY id'   # -> '1|abc', '2|\N'
#   Restart-TestPostgres -Server $pg               # stop (if running) and start again: same port, same data
#   Stop-TestPostgres -Server $pg [-KeepFolder]    # in AfterAll
#   $tls = Start-TestPostgres -Tls                 # TCP over TLS only (postgres.sh tls): .CaCertificate, .OtherCaCertificate,
#                                                  # 'postgres' trusted, other roles by scram; .VerifyFullConnectionStringFor(db, user[, ca])
#   New-TestPostgresRole -Server $tls -Name r -Password $token -Database $db   # a login role owning that database
#
# Where the machine has no PostgreSQL binaries, Start-TestPostgres returns Available = $false with a Reason
# (use Set-ItResult -Skipped); every other failure throws, with the tail of the server log.

Set-StrictMode -Version Latest

Import-Module (Join-Path $PSScriptRoot 'ServerScript.psm1')

$script:ServiceUser = 'postgres'
$script:Started = [System.Collections.Generic.List[object]]::new()

# tests/servers/postgres.sh with these arguments; returns its stdout, throws with what it said on failure.
function Invoke-ServerScript([string[]] $Arguments) {
    (Invoke-TestServerScript -Name 'postgres.sh' -Arguments $Arguments).Output
}

function Test-IsRoot {
    if ($IsWindows) { return $false }
    return ((& id -u) -eq '0')
}

# Runs a tool (as the postgres user when -AsServiceUser), returns its stdout; throws on a non-zero exit.
function Invoke-PgTool {
    param(
        [Parameter(Mandatory)] [string] $Tool,
        [string[]] $Arguments = @(),
        [bool] $AsServiceUser
    )
    $file = $Tool
    $toolArguments = $Arguments
    if ($AsServiceUser) {
        $file = 'runuser'
        $toolArguments = @('-u', $script:ServiceUser, '--', $Tool) + $Arguments
    }
    # From '/', which the postgres user may read (the caller's folder it may not).
    (Invoke-TestProcess -FilePath $file -Arguments $toolArguments -WorkingDirectory '/' -Environment @{ PGCLIENTENCODING = 'UTF8' }).Output
}

function Invoke-ServerTool([object] $Server, [string] $Tool, [string[]] $Arguments) {
    Invoke-PgTool -Tool (Join-Path $Server.BinFolder $Tool) -Arguments $Arguments -AsServiceUser $Server.AsServiceUser
}

# Starts the cluster on a port, or on a free one ('auto': the script retries when another process takes it first).
function Start-ServerOn([object] $Server, [string] $Port) {
    $Server.Port = [int](Invoke-ServerScript @('start', $Server.Folder, $Port, '-c', 'fsync=off')).Trim()
    $Server.ConnectionString = "Host=127.0.0.1;Port=$($Server.Port);Username=postgres;Database=postgres"
    $Server.Running = $true
}

function Stop-Server([object] $Server) {
    Invoke-ServerScript @('stop', $Server.Folder) | Out-Null
    $Server.Running = $false
}

function Resolve-DatabaseName([string] $Database) {
    # A name, or a connection string holding Database=...
    if ($Database -match '=') {
        foreach ($part in $Database -split ';') {
            $pair = $part -split '=', 2
            if ($pair.Count -eq 2 -and $pair[0].Trim() -in @('Database', 'DB')) { return $pair[1].Trim() }
        }
        throw "No Database= in the connection string '$Database'."
    }
    return $Database
}

function Assert-Available([object] $Server) {
    if (-not $Server.Available) { throw "PostgreSQL is not available: $($Server.Reason)" }
    if ($Server.Removed) { throw "This PostgreSQL server was stopped and its folder removed (Stop-TestPostgres)." }
}

<#
.SYNOPSIS
Starts a throwaway PostgreSQL cluster on a free port on 127.0.0.1 and returns an object describing it.
.OUTPUTS
Available, Reason, Port, Folder, DataFolder, LogFile, BinFolder, MajorVersion, ConnectionString (database 'postgres'),
Running, InitDbMs, StartMs; methods NewDatabase() and ConnectionStringFor(database).
#>
function Start-TestPostgres {
    [CmdletBinding()]
    param(
        # TCP connections over TLS only, with a CA of the test's own (tests/servers/postgres.sh tls).
        [switch] $Tls
    )

    $bin = $null
    $reason = $null
    $found = Invoke-TestServerScript -Name 'postgres.sh' -Arguments 'bin' -MayFail
    switch ($found.Code) {
        0 { $bin = $found.Output.Trim() }
        3 { $reason = ($found.Error + $found.Output).Trim() }
        default { throw "Exit code $($found.Code): postgres.sh bin`n$($found.Error)$($found.Output)" }
    }
    $server = [pscustomobject]@{
        PSTypeName       = 'SecretsPS.TestPostgres'
        Available        = $false
        Reason           = $null
        Port             = 0
        Folder           = $null
        DataFolder       = $null
        LogFile          = $null
        BinFolder        = $bin
        MajorVersion     = 0
        AsServiceUser    = $false
        ConnectionString = $null
        Running          = $false
        Removed          = $false
        InitDbMs         = 0
        StartMs          = 0
        CaCertificate    = $null
        OtherCaCertificate = $null
    }
    $server | Add-Member -MemberType ScriptMethod -Name VerifyFullConnectionStringFor -Value {
        param([string] $Database, [string] $User, [string] $RootCertificate = $this.CaCertificate)
        "Host=localhost;Port=$($this.Port);Username=$User;Database=$Database;SSL Mode=VerifyFull;Root Certificate=$RootCertificate"
    }
    $server | Add-Member -MemberType ScriptMethod -Name NewDatabase -Value { New-TestPostgresDatabase -Server $this }
    $server | Add-Member -MemberType ScriptMethod -Name ConnectionStringFor -Value {
        param([string] $Database) "Host=127.0.0.1;Port=$($this.Port);Username=postgres;Database=$Database"
    }
    if (-not $bin) {
        $server.Reason = $reason
        return $server
    }

    $server.AsServiceUser = Test-IsRoot
    $server.MajorVersion = [int](Invoke-ServerScript @('version')).Trim()

    $folder = Join-Path ([System.IO.Path]::GetTempPath()) ('secretsps-pg-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
    New-Item -ItemType Directory -Path $folder | Out-Null
    $server.Folder = $folder
    $server.DataFolder = Join-Path $folder 'data'
    $server.LogFile = Join-Path $folder 'log'
    try {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        Invoke-ServerScript @('create', $folder) | Out-Null
        if ($Tls) {
            Invoke-ServerScript @('tls', $folder) | Out-Null
            $server.CaCertificate = Join-Path $folder 'tls/ca.crt'
            $server.OtherCaCertificate = Join-Path $folder 'tls/other-ca.crt'
        }
        $server.InitDbMs = [int]$clock.Elapsed.TotalMilliseconds

        $clock.Restart()
        Start-ServerOn $server 'auto'
        $server.StartMs = [int]$clock.Elapsed.TotalMilliseconds
    } catch {
        try { Stop-Server $server } catch { }
        Remove-Item -LiteralPath $folder -Recurse -Force -ErrorAction SilentlyContinue
        $server.Removed = $true
        throw
    }

    $server.Available = $true
    $script:Started.Add($server)
    return $server
}

<#
.SYNOPSIS
Creates a fresh database (a unique name unless -Name is given) and returns its connection string.
#>
function New-TestPostgresDatabase {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [object] $Server,
        [ValidatePattern('^[a-z_][a-z0-9_]{0,62}$')] [string] $Name = ('test_' + [guid]::NewGuid().ToString('N'))
    )
    Assert-Available $Server
    Invoke-TestPsql -Server $Server -Database 'postgres' -Sql "CREATE DATABASE `"$Name`"" | Out-Null
    return $Server.ConnectionStringFor($Name)
}

<#
.SYNOPSIS
Runs SQL with psql (as the postgres user when root) and returns the rows as strings, fields joined by
-FieldSeparator ('|' by default), NULL shown as -NullAs ('\N' by default). Throws on any SQL error.
.PARAMETER Database
A database name or a connection string holding Database=... (as New-TestPostgresDatabase returns).
.NOTES
One string per output line: a value holding a newline spans lines. Commands that return no rows return nothing
(psql runs with -q, so 'INSERT 0 1' and the like are not printed).
#>
function Invoke-TestPsql {
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)] [object] $Server,
        [string] $Database = 'postgres',
        [Parameter(Mandatory)] [string] $Sql,
        [string] $FieldSeparator = '|',
        [string] $NullAs = '\N'
    )
    Assert-Available $Server
    $name = Resolve-DatabaseName $Database
    $stdout = Invoke-ServerTool $Server 'psql' @(
        '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
        '-h', '127.0.0.1', '-p', "$($Server.Port)", '-U', 'postgres', '-d', $name,
        '-F', $FieldSeparator, '-P', "null=$NullAs", '-c', $Sql)
    ConvertTo-TestLines $stdout -LineBreak '\r?\n'
}

<#
.SYNOPSIS
Creates a login role signed in with -Password (scram-sha-256 on a -Tls server; an access token, for the tests) and
makes it the owner of -Database, so that it may create the job tables there.
#>
function New-TestPostgresRole {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [object] $Server,
        [Parameter(Mandatory)] [ValidatePattern('^[a-z_][a-z0-9_]{0,62}$')] [string] $Name,
        [Parameter(Mandatory)] [string] $Password,
        [Parameter(Mandatory)] [string] $Database
    )
    Assert-Available $Server
    $db = Resolve-DatabaseName $Database
    $literal = $Password.Replace("'", "''")
    Invoke-TestPsql -Server $Server -Database 'postgres' -Sql "CREATE ROLE `"$Name`" LOGIN PASSWORD '$literal'" | Out-Null
    Invoke-TestPsql -Server $Server -Database 'postgres' -Sql "ALTER DATABASE `"$db`" OWNER TO `"$Name`"" | Out-Null
}

<#
.SYNOPSIS
Stops the server if it runs and starts it again on the same port with the same data (for "the database goes
away mid-run": Stop-TestPostgres -KeepFolder, then Restart-TestPostgres).
#>
function Restart-TestPostgres {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [object] $Server)
    Assert-Available $Server
    Stop-Server $Server
    Start-ServerOn $Server "$($Server.Port)"
}

<#
.SYNOPSIS
Stops the server (pg_ctl -m fast) and removes its folder, unless -KeepFolder (then Restart-TestPostgres starts it
again). Does nothing for an unavailable or already removed server, so it is safe in AfterAll.
#>
function Stop-TestPostgres {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [AllowNull()] [object] $Server,
        [switch] $KeepFolder
    )
    if ($null -eq $Server -or -not $Server.Available -or $Server.Removed) { return }
    try {
        Stop-Server $Server
    } finally {
        if (-not $KeepFolder) {
            Remove-Item -LiteralPath $Server.Folder -Recurse -Force -ErrorAction SilentlyContinue
            $Server.Removed = $true
            [void]$script:Started.Remove($Server)
        }
    }
}

# A session that ends or removes the module without Stop-TestPostgres does not leave servers running.
Register-TestServerCleanup -Module $ExecutionContext.SessionState.Module -Cleanup {
    foreach ($server in @($script:Started)) {
        try { Stop-TestPostgres -Server $server } catch { }
    }
}

Export-ModuleMember -Function Start-TestPostgres, New-TestPostgresDatabase, Invoke-TestPsql, Restart-TestPostgres, Stop-TestPostgres, New-TestPostgresRole
