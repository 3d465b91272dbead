BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'Secrets never leak' {
    BeforeAll {
        $ErrorActionPreference = 'Continue'
        $folder = New-TestFolder
        $keyFolder = Join-Path $folder 'keys'
        $logFolder = Join-Path $folder 'logs'
        $null = New-Item -ItemType Directory -Path $keyFolder, $logFolder
        $path = Join-Path $keyFolder '.env.crypto'
        $log = Join-Path $logFolder 'lifecycle.log'
        $plaintext = 'Pl41n-T3xt ção ✓ never-log-me 7f3a9c'
        # -Debug on a compiled cmdlet makes every stream that has no explicit action Inquire (a prompt per line):
        # give each stream its action so that only the debug stream is affected (Continue). See NonInteractive.Tests.ps1.
        $common = @{ Verbose = $true; Debug = $true; LogFile = $log; WarningAction = 'Continue'; ErrorAction = 'Continue'; InformationAction = 'Continue' }
        $state = @{}
        $captured = [Collections.Generic.List[object]]::new()
        $errorsBefore = $Error.Count

        function Step([scriptblock] $Block) {
            try { foreach ($r in (& $Block *>&1)) { $captured.Add($r) } }
            catch { $captured.Add($_) }
        }

        # ---- the lifecycle, every stream captured ----
        Step { New-EncryptionConfig -Path $path @common }
        Step { Invoke-KeyRotation -Path $path -PassThru @common }
        Step { Invoke-KeyRotation -Path $path -Inactive -PassThru @common }
        Step { Set-ActiveEncryptionKey -Path $path -Version v3 -PassThru @common }
        Step { $state.Stored = Protect-EncryptedValue -Path $path -Value $plaintext @common; $state.Stored }
        Step { $state.StoredSecure = Protect-EncryptedValue -Path $path -Value (ConvertTo-SecureString $plaintext -AsPlainText -Force) @common; $state.StoredSecure }
        # The plaintext is Unprotect's output by design: keep it out of what is searched, keep its other streams in.
        Step { $state.RoundTrip = Unprotect-EncryptedValue -Path $path -Value $state.Stored @common }
        Step { $state.RoundTripSecure = Unprotect-EncryptedValue -Path $path -Value $state.StoredSecure -AsSecureString @common }
        Step { Test-EncryptionConfig -Path $path -Detailed @common }
        Step { Test-EncryptionConfig -Path $path @common }
        Step { $state.Backup = Backup-EncryptionConfig -Path $path -Keep 20 @common; $state.Backup }
        Step { Remove-EncryptionKey -Path $path -Version v1 -Force -PassThru @common }
        Step { Restore-EncryptionConfig -Path $path -BackupPath $state.Backup.FullName -Force -PassThru @common }
        Step { Get-EncryptionKey -Path $path @common }
        # -NoPersist writes key lines to the pipeline for a secret store: keep them out of the searched text, but add
        # their key material to what must not appear anywhere else.
        Step { $state.NoPersist = @(Invoke-KeyRotation -Path $path -NoPersist @common) }

        # ---- bad inputs, each must error without echoing a secret ----
        $other = New-TestKeyFile -Folder (Join-Path $folder 'other')
        $otherValue = Protect-EncryptedValue -Path $other -Value $plaintext
        $parts = Split-StoredValue $state.Stored
        $tamperedBytes = [byte[]]$parts.TokenBytes.Clone()
        $tamperedBytes[30] = $tamperedBytes[30] -bxor 0xFF
        $tampered = Join-StoredValue -Version $parts.Version -TokenBytes $tamperedBytes
        $plainAsStored = 'v3:' + (ConvertTo-Base64Url ([Text.Encoding]::UTF8.GetBytes($plaintext)))

        $badBackup = Join-Path $keyFolder 'broken.backup'
        $keyText = [IO.File]::ReadAllText($path)
        [IO.File]::WriteAllText($badBackup, ($keyText -replace 'ENCRYPTION_SALT_HASH__v3="[0-9a-f]+"', ('ENCRYPTION_SALT_HASH__v3="' + ('0' * 64) + '"')))
        $badKeyFile = Join-Path $keyFolder 'broken-key.env'
        $realKey = (Get-KeyFileValues $path)['ENCRYPTION_KEYS__v3']
        $brokenKeyText = $realKey.Substring(0, 20) + '*' + $realKey.Substring(21)
        [IO.File]::WriteAllText($badKeyFile, ($keyText -replace [regex]::Escape($realKey), $brokenKeyText))

        Step { New-EncryptionConfig -Path $path @common }
        Step { Invoke-KeyRotation -Path $path -NewVersion v2 -Force @common }
        Step { Invoke-KeyRotation -Path $path -NewVersion 'bad:name' -Force @common }
        Step { Remove-EncryptionKey -Path $path -Version v3 -Force @common }
        Step { Set-ActiveEncryptionKey -Path $path -Version v9 -Force @common }
        Step { Unprotect-EncryptedValue -Path $path -Value $tampered @common }
        Step { Unprotect-EncryptedValue -Path $path -Value $otherValue @common }
        Step { Unprotect-EncryptedValue -Path $path -Value $plaintext @common }
        Step { Unprotect-EncryptedValue -Path $path -Value $plainAsStored @common }
        Step { Protect-EncryptedValue -Path $path -Value '' @common }
        Step { Protect-EncryptedValue -Path $path -Value $plaintext -Version v9 @common }
        Step { Restore-EncryptionConfig -Path $path -BackupPath $badBackup -Force @common }
        Step { Test-EncryptionConfig -Path $badKeyFile -Detailed @common }
        Step { Get-EncryptionKey -Path $badKeyFile @common }
        Step { Protect-EncryptedValue -Path $badKeyFile -Value $plaintext @common }
        Step { Test-EncryptionConfig -Path $badBackup -Detailed @common }

        # ---- what must never appear ----
        $secrets = [Collections.Generic.List[object]]::new()
        foreach ($f in @(Get-Item -Force -LiteralPath $path, $other) + @(Get-ChildItem -LiteralPath $keyFolder -Force -File -Filter '*.backup_*')) {
            foreach ($m in Get-KeyMaterial -Path $f.FullName) { $secrets.Add($m) }
        }
        foreach ($m in Get-KeyMaterial -Lines $state.NoPersist) { $secrets.Add($m) }
        $secrets.Add($brokenKeyText)
        $secrets.Add($plaintext)

        function ConvertTo-SearchText($Record) {
            if ($null -eq $Record) { return '' }
            if ($Record -is [Management.Automation.ErrorRecord]) {
                # (Out-String of an ErrorRecord adds only layout around these, and costs ~50 ms a record.)
                return @(
                    $Record.ToString()
                    $Record.Exception.ToString()
                    "$($Record.TargetObject)"
                    "$($Record.ErrorDetails)"
                    $Record.CategoryInfo.ToString()
                ) -join "`n"
            }
            if ($Record -is [Management.Automation.InformationalRecord]) { return $Record.Message }
            if ($Record -is [Management.Automation.InformationRecord]) { return "$($Record.MessageData)" }
            # Every property, and the default view (the module's Format.ps1xml) as the user sees it.
            return (($Record.PSObject.Properties | ForEach-Object { "$($_.Name)=$($_.Value)" }) -join "`n") + "`n$Record`n" + ($Record | Out-String -Width 4096)
        }

        $streamText = ($captured | ForEach-Object { ConvertTo-SearchText $_ }) -join "`n"
        $newErrors = @(if ($Error.Count -gt $errorsBefore) { $Error[0..($Error.Count - $errorsBefore - 1)] })
        $errorText = (@($newErrors) + @($captured | Where-Object { $_ -is [Management.Automation.ErrorRecord] }) | ForEach-Object { ConvertTo-SearchText $_ }) -join "`n"
        $logText = (Get-ChildItem -LiteralPath $logFolder -File | ForEach-Object { [IO.File]::ReadAllText($_.FullName) }) -join "`n"
    }

    It 'ran the whole lifecycle: the plaintext came back, and every bad input produced an error' {
        $state.RoundTrip | Should -BeExactly $plaintext
        [Net.NetworkCredential]::new('', $state.RoundTripSecure).Password | Should -BeExactly $plaintext
        $ids = $captured | Where-Object { $_ -is [Management.Automation.ErrorRecord] } | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] }
        $expected = 'KeyFileExists', 'KeyVersionExists', 'VersionNameInvalid', 'ActiveVersionRemoval', 'KeyVersionNotFound', 'TokenSignatureInvalid', 'StoredValueMalformed', 'ValueEmpty', 'BackupInvalid', 'KeyNotBase64'
        foreach ($id in $expected) { $ids | Should -Contain $id }
        # Only the bad inputs failed: the lifecycle itself ran without an error.
        $ids | Where-Object { $_ -notin $expected } | Should -BeNullOrEmpty
        @($state.NoPersist).Count | Should -Be 6
    }

    It 'captured verbose, warning and log output to search' {
        @($captured | Where-Object { $_ -is [Management.Automation.VerboseRecord] }).Count | Should -BeGreaterThan 5
        @($captured | Where-Object { $_ -is [Management.Automation.WarningRecord] }).Count | Should -BeGreaterThan 0
        $logText.Length | Should -BeGreaterThan 1000
    }

    It 'knows the secrets it looks for (they are found in the key file itself)' {
        $secrets.Count | Should -BeGreaterThan 20
        Find-SecretInText -Text ([IO.File]::ReadAllText($path)) -Secrets $secrets | Should -Not -BeNullOrEmpty
    }

    It 'shows no key, salt or derived key in any stream (output, verbose, debug, warning, error, information)' {
        Find-SecretInText -Text $streamText -Secrets ($secrets | Where-Object { $_ -isnot [string] }) | Should -BeNullOrEmpty
    }

    It 'puts no key, salt or derived key in any exception or error record' {
        Find-SecretInText -Text $errorText -Secrets ($secrets | Where-Object { $_ -isnot [string] }) | Should -BeNullOrEmpty
    }

    It 'writes no key, salt or derived key to the log files' {
        Find-SecretInText -Text $logText -Secrets ($secrets | Where-Object { $_ -isnot [string] }) | Should -BeNullOrEmpty
    }

    It 'never shows the plaintext, nor the text of a malformed key, in streams, errors or logs' {
        Find-SecretInText -Text $streamText -Secrets $plaintext, $brokenKeyText | Should -BeNullOrEmpty
        Find-SecretInText -Text $errorText -Secrets $plaintext, $brokenKeyText | Should -BeNullOrEmpty
        Find-SecretInText -Text $logText -Secrets $plaintext, $brokenKeyText | Should -BeNullOrEmpty
    }
}
