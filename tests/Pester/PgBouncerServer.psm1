# PgBouncer in transaction pooling mode in front of a Start-TestPostgres server, for Pester: started and stopped by
# tests/servers/pgbouncer.sh (the one script the xunit suite uses too), on a free port on 127.0.0.1; every server
# connection signs in as 'postgres'. Stop-TestPgBouncer stops it and removes its folder (safe in AfterAll, and when
# start failed); a session that ends or removes the module stops whatever is left.
#
#   $pg = Start-TestPostgres
#   $pooler = Start-TestPgBouncer -Postgres $pg          # .Available, .Reason, .Port, .Folder, .LogFile
#   $cs = $pooler.Through($db.ConnectionString)          # the same database, reached through the pooler
#   Stop-TestPgBouncer -Server $pooler                   # in AfterAll (before Stop-TestPostgres)

Set-StrictMode -Version Latest

Import-Module (Join-Path $PSScriptRoot 'ServerScript.psm1')

$script:Started = [System.Collections.Generic.List[object]]::new()

# tests/servers/pgbouncer.sh with these arguments: @{ Code; Output; Error }, whatever the exit code.
function Invoke-PoolerScript([string[]] $Arguments) {
    Invoke-TestServerScript -Name 'pgbouncer.sh' -Arguments $Arguments -MayFail
}

<#
.SYNOPSIS
Starts PgBouncer (transaction pooling) in front of a Start-TestPostgres server; Available = $false with a Reason when the
machine has no pgbouncer or the server is not available; any other failure throws with the log's tail.
#>
function Start-TestPgBouncer {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [AllowNull()] [object] $Postgres)

    $server = [pscustomobject]@{
        PSTypeName = 'SecretsPS.TestPgBouncer'
        Available  = $false
        Reason     = $null
        Port       = 0
        Folder     = $null
        LogFile    = $null
        Removed    = $false
    }
    $server | Add-Member -MemberType ScriptMethod -Name Through -Value {
        param([string] $ConnectionString)
        $parts = @($ConnectionString -split ';' | Where-Object { $_ -and $_ -notmatch '^\s*(Host|Server|Port)\s*=' })
        (@("Host=127.0.0.1", "Port=$($this.Port)") + $parts) -join ';'
    }
    if ($null -eq $Postgres -or -not $Postgres.Available) {
        $server.Reason = if ($null -eq $Postgres) { 'no PostgreSQL server' } else { "PostgreSQL is not available: $($Postgres.Reason)" }
        return $server
    }
    $bin = Invoke-PoolerScript @('bin')
    if ($bin.Code -eq 3) {
        $server.Reason = $bin.Error.Trim()
        return $server
    }

    $folder = Join-Path ([IO.Path]::GetTempPath()) ('secretsps-pgbouncer-' + [guid]::NewGuid().ToString('N').Substring(0, 12))
    $server.Folder = $folder
    $server.LogFile = Join-Path $folder 'pgbouncer.log'
    $start = Invoke-PoolerScript @('start', $folder, "$($Postgres.Port)", 'auto')
    if ($start.Code -ne 0) {
        $null = Invoke-PoolerScript @('stop', $folder)
        Remove-Item -LiteralPath $folder -Recurse -Force -ErrorAction SilentlyContinue
        throw "PgBouncer did not start (exit $($start.Code)):`n$($start.Error)$($start.Output)"
    }
    $server.Port = [int]$start.Output.Trim()
    $server.Available = $true
    $script:Started.Add($server)
    return $server
}

<#
.SYNOPSIS
Stops PgBouncer and removes its folder; does nothing for an unavailable or already stopped one.
#>
function Stop-TestPgBouncer {
    [CmdletBinding()]
    param([Parameter(Mandatory)] [AllowNull()] [object] $Server)
    if ($null -eq $Server -or -not $Server.Available -or $Server.Removed) { return }
    try {
        $null = Invoke-PoolerScript @('stop', $Server.Folder)
    } finally {
        Remove-Item -LiteralPath $Server.Folder -Recurse -Force -ErrorAction SilentlyContinue
        $Server.Removed = $true
        [void]$script:Started.Remove($Server)
    }
}

Register-TestServerCleanup -Module $ExecutionContext.SessionState.Module -Cleanup {
    foreach ($server in @($script:Started)) {
        try { Stop-TestPgBouncer -Server $server } catch { }
    }
}

Export-ModuleMember -Function Start-TestPgBouncer, Stop-TestPgBouncer
