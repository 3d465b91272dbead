@{
    RootModule           = 'SecretsPS.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0f3f0e-7d2a-4c55-9a51-3c3f4d8b2e61'
    Author               = 'SecretsPS'
    CompanyName          = 'SecretsPS'
    Copyright            = '(c) SecretsPS. MIT licence.'
    Description          = 'Versioned encryption keys for application data (Fernet, the .env.crypto key file) and online re-encryption of database columns when a key is rotated.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('SecretsPS.Format.ps1xml')
    CmdletsToExport      = @(
        'New-EncryptionConfig'
        'Get-EncryptionKey'
        'Invoke-KeyRotation'
        'Set-ActiveEncryptionKey'
        'Test-EncryptionConfig'
        'Backup-EncryptionConfig'
        'Restore-EncryptionConfig'
        'Remove-EncryptionKey'
        'Protect-EncryptedValue'
        'Unprotect-EncryptedValue'
        'Start-Reencryption'
        'Get-ReencryptJob'
        'Remove-ReencryptJob'
        'Get-EncryptedColumnStatus'
        'Remove-UnusedEncryptionKey'
        'Get-KeyCleanupOperation'
        'Find-EncryptedColumn'
        'Get-EncryptionConfigBackup'
        'Get-ReencryptJobError'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags = @('encryption', 'fernet', 'key-rotation', 'secrets', 'postgresql', 'sqlserver', 'sqlite')
        }
    }
}
