# Runs the tools the Pester fixtures start (tests/servers scripts, psql, the python3 SQL helpers) to their end: both
# pipes read while the process runs, a timeout that kills its whole tree, the exit code and what it said.
#
#   $r = Invoke-TestProcess -FilePath python3 -Arguments '-c', $code -InputText $sql -Description 'MariaDB SQL'   # .Code, .Output, .Error
#   $port = (Invoke-TestServerScript -Name postgres.sh -Arguments 'start', $folder, 'auto').Output.Trim()
#   $r = Invoke-TestServerScript -Name pgbouncer.sh -Arguments 'bin' -MayFail                  # exit 3: not installed
#   ConvertTo-TestLines $r.Output                                                               # one string per line
#   Register-TestServerCleanup -Module $ExecutionContext.SessionState.Module -Cleanup { ... }    # at session end or Remove-Module

Set-StrictMode -Version Latest

$script:ServersFolder = Join-Path (Split-Path -Parent $PSScriptRoot) 'servers'

<#
.SYNOPSIS
Runs a program and returns { Code; Output; Error }; a non-zero exit throws with what it wrote, unless -MayFail.
#>
function Invoke-TestProcess {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [AllowEmptyString()] [string[]] $Arguments = @(),
        # Written to its stdin, which is then closed; without it, stdin is left alone.
        [AllowEmptyString()] [string] $InputText,
        [hashtable] $Environment = @{},
        [string] $WorkingDirectory,
        [int] $TimeoutSeconds = 200,
        # What the messages call it; the command line by default.
        [string] $Description,
        [switch] $MayFail
    )
    $utf8 = [Text.UTF8Encoding]::new($false)
    $start = [Diagnostics.ProcessStartInfo]::new($FilePath)
    foreach ($a in $Arguments) { $start.ArgumentList.Add($a) }
    $start.UseShellExecute = $false
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $start.StandardOutputEncoding = $utf8
    $start.StandardErrorEncoding = $utf8
    $withInput = $PSBoundParameters.ContainsKey('InputText')
    if ($withInput) {
        $start.RedirectStandardInput = $true
        $start.StandardInputEncoding = $utf8
    }
    if ($WorkingDirectory) { $start.WorkingDirectory = $WorkingDirectory }
    foreach ($k in $Environment.Keys) { $start.Environment[$k] = $Environment[$k] }
    if (-not $Description) { $Description = (@($FilePath) + $Arguments) -join ' ' }

    $process = [Diagnostics.Process]::Start($start)
    try {
        # Read before waiting: a tool that fills a pipe nobody reads never exits. The servers the scripts start write
        # to their own logs (pg_ctl -l and the like), so these pipes close when the script exits.
        $out = $process.StandardOutput.ReadToEndAsync()
        $err = $process.StandardError.ReadToEndAsync()
        if ($withInput) {
            $process.StandardInput.Write($InputText)
            $process.StandardInput.Close()
        }
        if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
            $process.Kill($true)
            throw "Timed out after $TimeoutSeconds s: $Description"
        }
        # The timed wait may return before the pipes are drained; this one waits for them too.
        $process.WaitForExit()
        $result = [pscustomobject]@{
            Code   = $process.ExitCode
            Output = $out.GetAwaiter().GetResult()
            Error  = $err.GetAwaiter().GetResult()
        }
    } finally {
        $process.Dispose()
    }
    if ($result.Code -ne 0 -and -not $MayFail) {
        throw "Exit code $($result.Code): $Description`n$($result.Error)$($result.Output)"
    }
    return $result
}

<#
.SYNOPSIS
Runs tests/servers/<Name> (postgres.sh, pgbouncer.sh, mariadb.sh) with bash: the scripts the xunit suite and the
benchmark drive their servers with too. Returns { Code; Output; Error }; a failure throws with the server log's tail.
#>
function Invoke-TestServerScript {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Name,
        [AllowEmptyString()] [string[]] $Arguments = @(),
        [switch] $MayFail
    )
    # From '/': as root the scripts run the servers as 'postgres', which may not read the caller's folder.
    Invoke-TestProcess -FilePath 'bash' -Arguments (@((Join-Path $script:ServersFolder $Name)) + $Arguments) `
        -WorkingDirectory '/' -Description "$Name $($Arguments -join ' ')" -MayFail:$MayFail
}

<#
.SYNOPSIS
A tool's output as one string per line, without the empty one after the last newline (nothing for no output).
#>
function ConvertTo-TestLines {
    param(
        [AllowNull()] [AllowEmptyString()] [string] $Text,
        # A regular expression; "`n" by default, so a carriage return inside a value stays in it.
        [string] $LineBreak = "`n"
    )
    if (-not $Text) { return }
    $lines = $Text -split $LineBreak
    if ($lines[-1] -eq '') { $lines = $lines[0..($lines.Count - 2)] }
    $lines
}

<#
.SYNOPSIS
Runs -Cleanup (stop whatever servers are left) when the PowerShell session ends or when -Module is removed, so a test
run cut short does not leave servers running.
#>
function Register-TestServerCleanup {
    param(
        [Parameter(Mandatory)] [psmoduleinfo] $Module,
        [Parameter(Mandatory)] [scriptblock] $Cleanup
    )
    $exiting = Register-EngineEvent -SourceIdentifier PowerShell.Exiting -Action $Cleanup
    $Module.OnRemove = {
        & $Cleanup
        Unregister-Event -SubscriptionId $exiting.Id -ErrorAction SilentlyContinue
        Remove-Job -Id $exiting.Id -Force -ErrorAction SilentlyContinue
    }.GetNewClosure()
}

Export-ModuleMember -Function Invoke-TestProcess, Invoke-TestServerScript, ConvertTo-TestLines, Register-TestServerCleanup
