BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $damagedCases = Get-DamagedKeyFileCases
}

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

Describe 'Restore-EncryptionConfig' {

    Context 'restoring a valid backup' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $v1Value = Protect-EncryptedValue -Path $path -Value 'made with v1'
            $backup = Backup-EncryptionConfig -Path $path
            $backupHash = Get-FileHashString $backup.FullName
            $null = Invoke-KeyRotation -Path $path -WarningAction SilentlyContinue
            $null = Remove-EncryptionKey -Path $path -Version v1 -Force
            # v1 is gone: restoring the backup brings it back.
            $replacedBytes = [IO.File]::ReadAllBytes($path)
            $backupsBefore = @(Get-BackupFiles $path).Name
            $output = @(Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -Force)
        }

        It 'emits nothing without -PassThru' {
            $output.Count | Should -Be 0
        }

        It 'replaces the key file with the backup byte for byte' {
            Get-FileHashString $path | Should -Be $backupHash
            Unprotect-EncryptedValue -Path $path -Value $v1Value | Should -BeExactly 'made with v1'
        }

        It 'first backs up the file it replaces, byte for byte, mode 0600' {
            $new = @(Get-BackupFiles $path | Where-Object Name -NotIn $backupsBefore)
            $new.Count | Should -Be 1
            [IO.File]::ReadAllBytes($new[0].FullName) | Should -Be $replacedBytes
            if (-not $IsWindows) { Get-TestFileMode $new[0].FullName | Should -Be '600' }
        }

        It 'writes the restored key file with mode 0600 and leaves the backup it used in place' {
            if (-not $IsWindows) { Get-TestFileMode $path | Should -Be '600' }
            Get-FileHashString $backup.FullName | Should -Be $backupHash
        }

        It '-PassThru emits the restored backup as a typed backup object naming the key file it went into' {
            $r = Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -Force -PassThru
            $r.PSObject.TypeNames[0] | Should -Be 'SecretsPS.Core.Backup.KeyFileBackup'
            $r.FullName | Should -Be $backup.FullName
            $r.KeyFile | Should -Be $path
            $r.Versions | Should -Be 'v1'
            $r.Encrypted | Should -BeFalse
        }

        It 'takes -BackupPath from Backup-EncryptionConfig output on the pipeline (FullName)' {
            $p = New-TestKeyFile
            $b = Backup-EncryptionConfig -Path $p
            $null = Invoke-KeyRotation -Path $p -WarningAction SilentlyContinue
            $b | Restore-EncryptionConfig -Path $p -Force
            Get-FileHashString $p | Should -Be (Get-FileHashString $b.FullName)
        }

        It 'restores over a missing key file (no backup of nothing)' {
            $source = New-TestKeyFile
            $folder2 = New-TestFolder
            $target = Join-Path $folder2 '.env.crypto'
            Restore-EncryptionConfig -Path $target -BackupPath $source -Force
            Get-FileHashString $target | Should -Be (Get-FileHashString $source)
            @(Get-BackupFiles $target).Count | Should -Be 0
        }

        It 'resolves a relative -BackupPath against the PowerShell location' {
            Push-Location $folder
            try { Restore-EncryptionConfig -Path $path -BackupPath $backup.Name -Force }
            finally { Pop-Location }
            Get-FileHashString $path | Should -Be $backupHash
        }
    }

    Context '-WhatIf' {
        It 'changes nothing on disk' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $backup = Backup-EncryptionConfig -Path $path
            $null = Invoke-KeyRotation -Path $path -WarningAction SilentlyContinue
            $before = Get-FileHashString $folder
            Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -WhatIf
            Restore-EncryptionConfig -Path $path -BackupPath $backup.FullName -Force -WhatIf
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'errors' {
        BeforeEach {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
        }

        It 'refuses a backup that is a key file with <Problem> (BackupInvalid, InvalidData) and changes nothing' -ForEach $damagedCases {
            $bad = Write-DamagedKeyFile -Path (Join-Path $folder '.env.crypto.backup_20240101_000000') -Problem $Problem
            $snapshot = Get-FileHashString $folder
            $err = { Restore-EncryptionConfig -Path $path -BackupPath $bad -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'BackupInvalid' 'InvalidData'
            $err.Exception.Message | Should -Match $Problem
            $err.Exception.InnerException.ErrorId | Should -Be $Problem
            Get-FileHashString $folder | Should -Be $snapshot
        }

        It 'refuses a backup that is not a key file at all (BackupInvalid) and changes nothing' {
            $bad = Join-Path $folder 'notes.txt'
            [IO.File]::WriteAllText($bad, "just some text`n")
            $snapshot = Get-FileHashString $folder
            $err = { Restore-EncryptionConfig -Path $path -BackupPath $bad -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'BackupInvalid' 'InvalidData'
            Get-FileHashString $folder | Should -Be $snapshot
        }

        It 'refuses an invalid backup under -WhatIf too' {
            $bad = Write-DamagedKeyFile -Path (Join-Path $folder 'bad.backup') -Problem 'SaltIntegrityCheckFailed'
            $snapshot = Get-FileHashString $folder
            $err = { Restore-EncryptionConfig -Path $path -BackupPath $bad -WhatIf -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'BackupInvalid' 'InvalidData'
            Get-FileHashString $folder | Should -Be $snapshot
        }

        It 'fails with BackupNotFound (ObjectNotFound) for a missing backup and changes nothing' {
            $err = { Restore-EncryptionConfig -Path $path -BackupPath (Join-Path $folder 'missing.backup') -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'BackupNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -Be $before
        }
    }
}
