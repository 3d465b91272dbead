BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    # A missing or undefined active version is what Set-ActiveEncryptionKey repairs; every other damage is refused.
    $damagedCases = Get-DamagedKeyFileCases | Where-Object { $_.Problem -notin 'ActiveVersionMissing', 'ActiveVersionNotDefined' }
    $repairCases = Get-DamagedKeyFileCases | Where-Object { $_.Problem -in 'ActiveVersionMissing', 'ActiveVersionNotDefined' }
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

Describe 'Set-ActiveEncryptionKey' {

    Context 'promoting an inactive version' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $null = Invoke-KeyRotation -Path $path -Inactive
            $beforeBytes = [IO.File]::ReadAllBytes($path)
            $beforeLines = Get-KeyFileLines $path
            $backupsBefore = @(Get-BackupFiles $path).Count
            $output = @(Set-ActiveEncryptionKey -Path $path -Version v2)
        }

        It 'emits nothing without -PassThru' {
            $output.Count | Should -Be 0
        }

        It 'changes only the ACTIVE_ENCRYPTION_VERSION line' {
            $after = Get-KeyFileLines $path
            $after.Count | Should -Be $beforeLines.Count
            for ($i = 0; $i -lt $after.Count; $i++) {
                if ($beforeLines[$i] -like 'ACTIVE_ENCRYPTION_VERSION=*') { $after[$i] | Should -BeExactly 'ACTIVE_ENCRYPTION_VERSION="v2"' }
                else { $after[$i] | Should -BeExactly $beforeLines[$i] }
            }
            (Get-EncryptionKey -Path $path | Where-Object IsActive).Version | Should -Be 'v2'
        }

        It 'first backs the previous file up byte for byte, mode 0600' {
            $backups = @(Get-BackupFiles $path)
            $backups.Count | Should -Be ($backupsBefore + 1)
            [IO.File]::ReadAllBytes($backups[-1].FullName) | Should -Be $beforeBytes
            if (-not $IsWindows) { Get-TestFileMode $backups[-1].FullName | Should -Be '600' }
        }

        It 'keeps the key file at mode 0600' -Skip:$IsWindows {
            Get-TestFileMode $path | Should -Be '600'
        }

        It 'makes new values use v2' {
            Protect-EncryptedValue -Path $path -Value 'x' | Should -BeLike 'v2:*'
        }

        It '-PassThru emits the now-active version' {
            $v = Set-ActiveEncryptionKey -Path $path -Version v1 -PassThru
            $v.GetType().FullName | Should -Be 'SecretsPS.Core.Config.KeyVersionInfo'
            $v.Version | Should -Be 'v1'
            $v.IsActive | Should -BeTrue
            (Get-KeyFileValues $path)['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'v1'
        }

        It 'takes -Version (and -Path) from Get-EncryptionKey on the pipeline' {
            Get-EncryptionKey -Path $path -Version v2 | Set-ActiveEncryptionKey
            (Get-KeyFileValues $path)['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'v2'
        }
    }

    Context 'the version that is already active' {
        It 'changes nothing and makes no backup' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
            Set-ActiveEncryptionKey -Path $path -Version v1
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'with $env:ACTIVE_ENCRYPTION_VERSION set' {
        It 'changes the file and warns that the variable still overrides it' {
            $path = New-TestKeyFile
            $null = Invoke-KeyRotation -Path $path -Inactive
            $saved = Save-KeyEnvironment
            try {
                $env:ACTIVE_ENCRYPTION_VERSION = 'v1'
                Set-ActiveEncryptionKey -Path $path -Version v2 -WarningVariable w -WarningAction SilentlyContinue
                ($w -join "`n") | Should -Match 'ACTIVE_ENCRYPTION_VERSION'
                (Get-KeyFileValues $path)['ACTIVE_ENCRYPTION_VERSION'] | Should -Be 'v2'
                (Get-EncryptionKey -Path $path | Where-Object IsActive).Version | Should -Be 'v1'
            }
            finally { Restore-KeyEnvironment $saved }
        }
    }

    Context '-WhatIf' {
        It 'changes nothing on disk' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $null = Invoke-KeyRotation -Path $path -Inactive
            $before = Get-FileHashString $folder
            Set-ActiveEncryptionKey -Path $path -Version v2 -WhatIf
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'errors' {
        BeforeEach {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $null = Invoke-KeyRotation -Path $path -Inactive
            $before = Get-FileHashString $folder
        }

        It 'refuses a version that is not in the file (KeyVersionNotFound, ObjectNotFound) and changes nothing' {
            $err = { Set-ActiveEncryptionKey -Path $path -Version v9 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyVersionNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses the version name <Name> (VersionNameInvalid, InvalidArgument) and changes nothing' -ForEach @(
            @{ Name = 'with a colon'; Value = 'v2:x' }
            @{ Name = 'with a space'; Value = 'v 2' }
            @{ Name = 'of 33 characters'; Value = ('v' * 33) }
        ) {
            $err = { Set-ActiveEncryptionKey -Path $path -Version $Value -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'VersionNameInvalid' 'InvalidArgument'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'fails with KeyFileNotFound (ObjectNotFound) for a missing file and creates nothing' {
            $err = { Set-ActiveEncryptionKey -Path (Join-Path $folder 'missing.env') -Version v1 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses to activate a version whose salt fails its integrity check (SaltIntegrityCheckFailed, SecurityError)' {
            $damaged = Write-TestKeyFile -Path (Join-Path $folder 'damaged.env') -Text (New-KeyFileText -Active v1 -Versions (New-KeyVersionText v1), (New-KeyVersionText v2 -SaltHash ('ab' * 32)))
            $snapshot = Get-FileHashString $folder
            $err = { Set-ActiveEncryptionKey -Path $damaged -Version v2 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'SaltIntegrityCheckFailed' 'SecurityError'
            Get-FileHashString $folder | Should -Be $snapshot
        }

        It 'repairs a key file with <Problem> by setting the active version' -ForEach $repairCases {
            $damaged = Write-DamagedKeyFile -Path (Join-Path $folder 'repair.env') -Problem $Problem
            Set-ActiveEncryptionKey -Path $damaged -Version v1 -Force -ErrorAction Stop
            (Test-EncryptionConfig -Path $damaged) | Should -BeTrue
            (Get-EncryptionKey -Path $damaged | Where-Object IsActive).Version | Should -Be 'v1'
        }

        It 'refuses to change a key file with <Problem> (<Category>) and changes nothing' -ForEach $damagedCases {
            $damaged = Write-DamagedKeyFile -Path (Join-Path $folder 'damaged.env') -Problem $Problem
            $snapshot = Get-FileHashString $folder
            $err = { Set-ActiveEncryptionKey -Path $damaged -Version v1 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err $Problem $Category
            Get-FileHashString $folder | Should -Be $snapshot
        }
    }
}
