#Requires -Version 7.4
<#
    Helpers for the fault-injection Pester files (Faults.Tests.ps1, Faults.Kill.Tests.ps1): runner processes that
    wait for a "go" file (so their start-up cost is paid before the clock matters), signals, and cheap one-query
    reads of the newest job row and of the column's state, all outside SecretsPS (python3's sqlite3, psql) through
    DatabaseFixtures.psm1.

        $r = Start-FaultRunner -Script 'Start-Reencryption …'          # fresh pwsh, module imported, waiting
        Wait-FaultRunnerReady $r                                        # (optional) until it has imported the module
        Set-FaultRunnerGo $r                                            # … now it runs the script
        Send-FaultSignal $r KILL                                        # kill -9 (or TERM)
        Wait-FaultRunnerExit $r -TimeoutSeconds 20                      # $true when it ended in time
        $q = Start-FaultSqliteReader -Path $db.Path                     # SQLite: one long-lived python3 for cheap polls
        Get-FaultJob -Database $db [-Reader $q]                         # newest job row ($null: no job table yet)
        Get-FaultColumnState -Database $db -Table t -Version v2 [-Reader $q]   # counts for the "committed prefix" invariant
        Stop-FaultSqliteReader $q
#>

Set-StrictMode -Version Latest

$script:Separator = [string][char]0x1F

# A long-lived python3 that answers SQL on a SQLite file line by line: a poll costs ~1 ms instead of a process start
# (~50-300 ms on a busy machine), so polling does not slow the run it watches. Autocommit: it holds no lock between queries.
# Read-write on purpose: after a kill -9 in the middle of a write the file has a hot journal, which any SQLite
# connection (this one, the application's, the next runner's) rolls back before it reads.
$script:SqliteReaderScript = @'
import sys, sqlite3
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
out = sys.stdout
for line in sys.stdin:
    sql = line.strip()
    if not sql:
        continue
    try:
        for row in con.execute(sql):
            out.write("\x1f".join("\\N" if v is None else str(v) for v in row) + "\n")
    except sqlite3.Error as e:
        out.write("!ERROR " + type(e).__name__ + ": " + str(e) + "\n")
    out.write("\x04\n")
    out.flush()
'@

function Start-FaultRunner {
    <#
        A fresh pwsh (Start-TestPwshProcess: -NonInteractive, stdin closed, SECRETSPS_MODULE passed on) that imports the
        module under test, waits for its go file (up to 5 minutes), then runs -Script. Returns
        { Process; Id; StdOut; StdErr; Go }. -Module is the module's psd1.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][string] $Module,
        [Parameter(Mandatory)][string] $Script,
        [Parameter(Mandatory)][string] $Folder,
        [switch] $NoWait
    )
    $go = Join-Path $Folder ('go-' + [guid]::NewGuid().ToString('N'))
    $prologue = "Import-Module '$Module'; "
    if (-not $NoWait) {
        $prologue += "`$null = New-Item -ItemType File -Path '$go.ready'; `$deadline = [DateTime]::UtcNow.AddMinutes(5); " +
            "while (-not (Test-Path -LiteralPath '$go')) { if ([DateTime]::UtcNow -gt `$deadline) { exit 97 }; Start-Sleep -Milliseconds 10 }; "
    }
    $handle = Start-TestPwshProcess -Command ($prologue + "`n" + $Script)
    $handle | Add-Member -NotePropertyName Go -NotePropertyValue $go -PassThru
}

function Wait-FaultRunnerReady {
    <# Waits until a runner has imported the module and waits for its go file; throws if it ended or took too long. #>
    param([Parameter(Mandatory)][object] $Runner, [double] $TimeoutSeconds = 60)
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (Test-Path -LiteralPath "$($Runner.Go).ready")) {
        if ($Runner.Process.HasExited) { throw "The runner (pid $($Runner.Id)) ended while starting (exit $($Runner.Process.ExitCode)): $($Runner.StdErr.Result)" }
        if ([DateTime]::UtcNow -gt $deadline) { throw "The runner (pid $($Runner.Id)) was not ready after $TimeoutSeconds s." }
        Start-Sleep -Milliseconds 20
    }
}

function Set-FaultRunnerGo {
    <# Lets a waiting runner start; throws (with its stderr) if it already ended. #>
    param([Parameter(Mandatory)][object] $Runner)
    if ($Runner.Process.HasExited) {
        throw "The runner (pid $($Runner.Id)) ended before it was told to start (exit $($Runner.Process.ExitCode)): $($Runner.StdErr.Result)"
    }
    $null = New-Item -ItemType File -Path $Runner.Go -Force
}

function Send-FaultSignal {
    <# kill -<Signal> <pid> (KILL waits for the process to be gone). #>
    param([Parameter(Mandatory)][object] $Runner, [ValidateSet('KILL', 'TERM', 'INT')][string] $Signal = 'KILL')
    if ($Runner.Process.HasExited) { return }
    & kill "-$Signal" $Runner.Id 2>$null
    if ($Signal -eq 'KILL') { $null = $Runner.Process.WaitForExit(10000) }
}

function Wait-FaultRunnerExit {
    <# $true when the runner ended within -TimeoutSeconds (its output is then complete). #>
    param([Parameter(Mandatory)][object] $Runner, [double] $TimeoutSeconds = 30)
    if (-not $Runner.Process.WaitForExit([int]($TimeoutSeconds * 1000))) { return $false }
    $Runner.Process.WaitForExit()
    $null = $Runner.StdOut.Wait(5000)
    $null = $Runner.StdErr.Wait(5000)
    return $true
}

function Get-FaultRunnerValue {
    <# The value of the last 'NAME=value' line the runner printed, or $null. #>
    param([Parameter(Mandatory)][object] $Runner, [Parameter(Mandatory)][string] $Name)
    $line = @($Runner.StdOut.Result -split '\r?\n' | Where-Object { $_.StartsWith("$Name=", [StringComparison]::Ordinal) }) | Select-Object -Last 1
    if ($null -eq $line) { return $null }
    $line.Substring($Name.Length + 1)
}

function Start-FaultSqliteReader {
    <# A long-lived python3 sqlite3 session on a SQLite file (see above); stop it with Stop-FaultSqliteReader. #>
    param([Parameter(Mandatory)][string] $Path)
    $python = @('/usr/bin/python3', (Get-Command python3 -CommandType Application -ErrorAction Ignore | Select-Object -First 1 -ExpandProperty Source)) |
        Where-Object { $_ -and (Test-Path -LiteralPath $_) } | Select-Object -First 1
    if (-not $python) { throw 'python3 is needed by the fault fixtures and was not found.' }
    $psi = [Diagnostics.ProcessStartInfo]::new($python)
    foreach ($a in '-u', '-c', $script:SqliteReaderScript, $Path) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.StandardOutputEncoding = [Text.UTF8Encoding]::new($false)
    $process = [Diagnostics.Process]::Start($psi)
    $null = $process.StandardError.ReadToEndAsync()
    [pscustomobject]@{ PSTypeName = 'SecretsPS.FaultSqliteReader'; Process = $process; Path = $Path }
}

function Invoke-FaultSqliteReader {
    <# Rows of one single-line SQL statement, fields joined by U+001F (NULL as \N); throws the SQLite error. #>
    param([Parameter(Mandatory)][object] $Reader, [Parameter(Mandatory)][string] $Sql)
    $Reader.Process.StandardInput.WriteLine($Sql.Replace("`n", ' ').Replace("`r", ' '))
    $Reader.Process.StandardInput.Flush()
    $rows = [Collections.Generic.List[string]]::new()
    $err = $null
    while ($true) {
        $line = $Reader.Process.StandardOutput.ReadLine()
        if ($null -eq $line) { throw "The SQLite reader for '$($Reader.Path)' ended." }
        if ($line -eq [string][char]4) { break }
        if ($line.StartsWith('!ERROR ')) { $err = $line.Substring(7); continue }
        $rows.Add($line)
    }
    if ($null -ne $err) { throw $err }
    , $rows.ToArray()
}

function Stop-FaultSqliteReader {
    param([AllowNull()][object] $Reader)
    if ($null -eq $Reader) { return }
    try { $Reader.Process.StandardInput.Close(); if (-not $Reader.Process.WaitForExit(2000)) { $Reader.Process.Kill() } } catch { }
    $Reader.Process.Dispose()
}

function Get-FaultJob {
    <#
        The newest row of the job table (optionally of one target table) in one query: { id; status; processed; skipped;
        errors; last_key; owner; message; table_name } as text, or $null when there is no job table (or no row) yet.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][object] $Database, [string] $Table, [object] $Reader)
    $where = if ($Table) { " WHERE table_name = '$Table'" } else { '' }
    $sql = "SELECT id, status, processed, skipped, errors, COALESCE(last_key, ''), COALESCE(owner, ''), COALESCE(message, ''), table_name FROM reencrypt_jobs$where ORDER BY id DESC LIMIT 1"
    try {
        $line = if ($Reader) { @(Invoke-FaultSqliteReader $Reader $sql) | Select-Object -First 1 }
        else { @(Invoke-TestSql -Database $Database -Sql $sql -FieldSeparator $script:Separator) | Select-Object -First 1 }
    } catch {
        if ("$_" -match 'no such table|does not exist') { return $null }
        throw
    }
    if (-not $line) { return $null }
    $f = $line -split $script:Separator
    [pscustomobject]@{
        id = [long]$f[0]; status = $f[1]; processed = [long]$f[2]; skipped = [long]$f[3]; errors = [long]$f[4]
        last_key = $f[5]; owner = $f[6]; message = $f[7]; table_name = $f[8]
    }
}

function Get-FaultColumnState {
    <#
        One query: Rows, AtVersion (values stored under -Version), Other (non-NULL values under any other prefix), and —
        for an integer key and a cursor -LastKey — NotDoneBelowCursor (rows at or below the cursor not at -Version) and
        DoneAboveCursor (rows above it already at -Version). -Reader: a Start-FaultSqliteReader session.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][object] $Database,
        [Parameter(Mandatory)][string] $Table,
        [string] $Column = 'otp',
        [Parameter(Mandatory)][string] $Version,
        [AllowEmptyString()][string] $LastKey = '',
        [object] $Reader
    )
    $cursor = if ($LastKey -match '^\d+$') { $LastKey } else { '0' }
    $at = "`"$Column`" LIKE '$Version" + ":%'"
    $sql = "SELECT count(*), " +
        "COALESCE(sum(CASE WHEN $at THEN 1 ELSE 0 END), 0), " +
        "COALESCE(sum(CASE WHEN `"$Column`" IS NOT NULL AND NOT ($at) THEN 1 ELSE 0 END), 0), " +
        "COALESCE(sum(CASE WHEN id <= $cursor AND `"$Column`" IS NOT NULL AND NOT ($at) THEN 1 ELSE 0 END), 0), " +
        "COALESCE(sum(CASE WHEN id > $cursor AND $at THEN 1 ELSE 0 END), 0) FROM `"$Table`""
    $line = if ($Reader) { @(Invoke-FaultSqliteReader $Reader $sql)[0] } else { @(Invoke-TestSql -Database $Database -Sql $sql -FieldSeparator $script:Separator)[0] }
    $f = $line -split $script:Separator
    [pscustomobject]@{ Rows = [long]$f[0]; AtVersion = [long]$f[1]; Other = [long]$f[2]; NotDoneBelowCursor = [long]$f[3]; DoneAboveCursor = [long]$f[4] }
}

function Test-FaultProcessAlive {
    <# $true while a process with this id exists (and is not a zombie). #>
    param([Parameter(Mandatory)][int] $Id)
    try { $p = [Diagnostics.Process]::GetProcessById($Id); try { -not $p.HasExited } finally { $p.Dispose() } } catch { $false }
}

Export-ModuleMember -Function Start-FaultSqliteReader, Invoke-FaultSqliteReader, Stop-FaultSqliteReader, Start-FaultRunner, Wait-FaultRunnerReady, Set-FaultRunnerGo, Send-FaultSignal, Wait-FaultRunnerExit, Get-FaultRunnerValue, Get-FaultJob, Get-FaultColumnState, Test-FaultProcessAlive
