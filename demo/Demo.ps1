<#
.SYNOPSIS
    The key lifecycle on the embedded default (SQLite), each command printed before it runs: a tutorial that runs.
.DESCRIPTION
    Generates a key file, creates a table of a few thousand encrypted OTP secrets (as the application would),
    rotates the key, previews and runs the re-encryption, shows the column status, finds every column that holds
    encrypted values and pipes them into the removal of the old key, and lists
    the jobs. Everything happens in a temporary folder that is removed at the end.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Rows = 3000
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module (Resolve-Path $ModulePath).ProviderPath

$work = Join-Path ([IO.Path]::GetTempPath()) ("secretsps-demo-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
Push-Location $work

# The application's side of the demo: it owns the table and writes encrypted values, as its EncryptedString
# column type does. It uses the SQLite provider that ships inside the module (its own load context).
function New-ApplicationTable {
    [CmdletBinding()]
    param([string] $Database, [string[]] $Values)
    $context = [Runtime.Loader.AssemblyLoadContext]::All | Where-Object Name -EQ 'SecretsPS'
    $sqlite = $context.LoadFromAssemblyName([Reflection.AssemblyName]::new('Microsoft.Data.Sqlite'))
    $path = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Database)
    $connection = [Activator]::CreateInstance($sqlite.GetType('Microsoft.Data.Sqlite.SqliteConnection'), @("Data Source=$path"))
    $connection.Open()
    try {
        $command = $connection.CreateCommand()
        $command.CommandText = 'PRAGMA journal_mode=WAL; CREATE TABLE usuarios (id INTEGER PRIMARY KEY, email TEXT NOT NULL, _otp_secret VARCHAR(500))'
        [void]$command.ExecuteNonQuery()
        $transaction = $connection.BeginTransaction()
        $command.Transaction = $transaction
        $command.CommandText = 'INSERT INTO usuarios (email, _otp_secret) VALUES ($email, $secret)'
        $email = $command.CreateParameter(); $email.ParameterName = '$email'; [void]$command.Parameters.Add($email)
        $secret = $command.CreateParameter(); $secret.ParameterName = '$secret'; [void]$command.Parameters.Add($secret)
        for ($i = 0; $i -lt $Values.Count; $i++) {
            $email.Value = "user$i@example.com"
            # Every tenth user has no OTP secret: NULL stays NULL.
            $secret.Value = if ($i % 10 -eq 9) { [DBNull]::Value } else { $Values[$i] }
            [void]$command.ExecuteNonQuery()
        }
        $transaction.Commit()
    }
    finally { $connection.Dispose() }
}

try {
    Write-Host "Working in $work (removed at the end)."
    $steps = @(
        ,@('Generate a key file (./.env.crypto, mode 0600)', 'New-EncryptionConfig')
        ,@('List the key versions', 'Get-EncryptionKey')
        ,@("The application stores $Rows OTP secrets encrypted with v1", '$secrets = 1..$Rows | ForEach-Object { "JBSWY3DPEHPK{0:D4}" -f $_ } | Protect-EncryptedValue; New-ApplicationTable -Database ./app.db -Values $secrets; $secrets[0]')
        ,@('Rotate: v2 becomes the active version', 'Invoke-KeyRotation -Confirm:$false -PassThru')
        ,@('The column before re-encryption', 'Get-EncryptedColumnStatus -Table usuarios -Column _otp_secret -ConnectionString ./app.db')
        ,@('Rehearse: read and decrypt everything, write nothing', 'Start-Reencryption -Table usuarios -Column _otp_secret -ConnectionString ./app.db -WhatIf')
        ,@('Re-encrypt (progress bar; -Verbose for the details)', 'Start-Reencryption -Table usuarios -Column _otp_secret -ConnectionString ./app.db -BatchSize 250')
        ,@("The job's proof: 'finished' only because it counted the column at its end and found nothing below v2", 'Get-ReencryptJob -ConnectionString ./app.db -First 1 | Format-List Id, Status, Message')
        ,@('The column now, right before the cleanup: every value at the active version', 'Get-EncryptedColumnStatus -Table usuarios -Column _otp_secret -ConnectionString ./app.db')
        ,@('Find every column that holds encrypted values (email is text, but holds none)', 'Find-EncryptedColumn -ConnectionString ./app.db')
        ,@('Remove the old key: versions no found column uses; backup, audit, rollback', 'Find-EncryptedColumn -ConnectionString ./app.db | Remove-UnusedEncryptionKey -ConnectionString ./app.db -Keep 1 -Confirm:$false | Format-List OperationId, Outcome, Removed, BackupPath')
        ,@('The versions now', 'Get-EncryptionKey')
        ,@('The jobs', 'Get-ReencryptJob -ConnectionString ./app.db')
        ,@('Validate the key file', 'Test-EncryptionConfig -Detailed')
    )
    # A loop in the script's own scope (not a function), so variables set by one step reach the next.
    foreach ($step in $steps) {
        Write-Host ""
        Write-Host "# $($step[0])" -ForegroundColor Cyan
        Write-Host "PS> $($step[1])" -ForegroundColor Yellow
        Invoke-Expression $step[1] | Out-Host
    }
    $status = Get-EncryptedColumnStatus -Table usuarios -Column _otp_secret -ConnectionString ./app.db
    if (-not $status.IsComplete) { throw "The column is not complete: $($status | Out-String)" }
    Write-Host ""
    Write-Host "Demo complete: every value of usuarios._otp_secret is at version '$($status.ActiveVersion)'." -ForegroundColor Green
}
finally {
    Pop-Location
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
