<#
.SYNOPSIS
    The key lifecycle on the embedded default, each command printed before it runs: a tutorial that runs.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath
)

$ErrorActionPreference = 'Stop'
$PSStyle.OutputRendering = 'PlainText'
Import-Module (Resolve-Path $ModulePath).ProviderPath

$work = Join-Path ([IO.Path]::GetTempPath()) ("secretsps-demo-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
Push-Location $work

try {
    Write-Host "Working in $work (removed at the end)."
    $steps = @(
        ,@('Generate a key file (./.env.crypto, mode 0600)', 'New-EncryptionConfig -WarningAction Continue')
        ,@('List the key versions', 'Get-EncryptionKey')
        ,@('Encrypt a value as the application would store it', '$stored = "JBSWY3DPEHPK3PXP" | Protect-EncryptedValue; $stored')
        ,@('Rotate: a new version v2 becomes active', 'Invoke-KeyRotation -Confirm:$false -PassThru')
        ,@('Old values stay readable after the rotation', '$stored | Unprotect-EncryptedValue')
        ,@('New values use v2', '"JBSWY3DPEHPK3PXP" | Protect-EncryptedValue')
        ,@('Two-phase rotation: add v3 for decryption only', 'Invoke-KeyRotation -Inactive -Confirm:$false -PassThru')
        ,@('... then promote it once every instance has the file', 'Set-ActiveEncryptionKey -Version v3 -Confirm:$false -PassThru')
        ,@('Validate the key file', 'Test-EncryptionConfig -Detailed')
        ,@('Back it up, keeping the newest 5 backups', 'Backup-EncryptionConfig -Keep 5')
        ,@('Re-encrypt the stored value, then remove the old key v1', '$stored = $stored | Unprotect-EncryptedValue | Protect-EncryptedValue; Remove-EncryptionKey -Version v1 -Force -PassThru')
        ,@('The value still decrypts', '$stored | Unprotect-EncryptedValue')
        ,@('The versions now', 'Get-EncryptionKey')
    )
    # A loop in the script's own scope (not a function), so variables set by one step reach the next.
    foreach ($step in $steps) {
        Write-Host ""
        Write-Host "# $($step[0])" -ForegroundColor Cyan
        Write-Host "PS> $($step[1])" -ForegroundColor Yellow
        Invoke-Expression $step[1] | Out-Host
    }
    Write-Host ""
    Write-Host "Demo complete." -ForegroundColor Green
}
finally {
    Pop-Location
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
