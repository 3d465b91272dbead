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

    function New-ThreeVersionFile {
        # v1, v2 (active), v3 (inactive), with a comment and an unknown setting to keep.
        param([string] $Folder = (New-TestFolder))
        $path = New-TestKeyFile -Folder $Folder
        $null = Invoke-KeyRotation -Path $path -NewVersion v2 -WarningAction SilentlyContinue
        $null = Invoke-KeyRotation -Path $path -NewVersion v3 -Inactive
        [IO.File]::AppendAllText($path, "# keep this comment`nAPP_SETTING=`"keep`"`n")
        # Start with no backups, so each test sees only the ones it caused.
        Get-BackupFiles $path | Remove-Item -Force
        return $path
    }
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'Remove-EncryptionKey' {

    Context 'removing an inactive version' {
        BeforeAll {
            $folder = New-TestFolder
            $path = New-ThreeVersionFile -Folder $folder
            $beforeBytes = [IO.File]::ReadAllBytes($path)
            $beforeLines = Get-KeyFileLines $path
            $v3Value = Protect-EncryptedValue -Path $path -Value 'made with v3' -Version v3
            $output = @(Remove-EncryptionKey -Path $path -Version v1 -Force)
            $afterLines = Get-KeyFileLines $path
        }

        It 'emits nothing without -PassThru' {
            $output.Count | Should -Be 0
        }

        It 'removes the five lines of v1 and nothing else' {
            $afterLines | Where-Object { $_ -like '*__v1=*' } | Should -BeNullOrEmpty
            $expected = $beforeLines | Where-Object { $_ -notlike '*__v1=*' }
            foreach ($l in $expected | Where-Object { $_.Trim() }) { $afterLines | Should -Contain $l }
            $afterLines | Should -Contain '# keep this comment'
            $afterLines | Should -Contain 'APP_SETTING="keep"'
            (Get-EncryptionKey -Path $path).Version | Should -Be @('v2', 'v3')
        }

        It 'first backs the previous file up byte for byte, mode 0600' {
            $backups = @(Get-BackupFiles $path)
            $backups.Count | Should -Be 1
            [IO.File]::ReadAllBytes($backups[0].FullName) | Should -Be $beforeBytes
            if (-not $IsWindows) { Get-TestFileMode $backups[0].FullName | Should -Be '600' }
        }

        It 'keeps the key file at mode 0600 and valid' {
            if (-not $IsWindows) { Get-TestFileMode $path | Should -Be '600' }
            Test-EncryptionConfig -Path $path | Should -BeTrue
        }

        It 'still decrypts values of the versions that remain' {
            Unprotect-EncryptedValue -Path $path -Value $v3Value | Should -BeExactly 'made with v3'
        }
    }

    Context 'options' {
        It 'removes several versions in one change (one backup) and -PassThru emits their names' {
            $path = New-TestKeyFile
            $null = Invoke-KeyRotation -Path $path -NewVersion v2 -Inactive
            $null = Invoke-KeyRotation -Path $path -NewVersion v3 -Inactive
            Get-BackupFiles $path | Remove-Item -Force
            $removed = Remove-EncryptionKey -Path $path -Version v2, v3 -Force -PassThru
            $removed | Should -Be @('v2', 'v3')
            (Get-EncryptionKey -Path $path).Version | Should -Be 'v1'
            @(Get-BackupFiles $path).Count | Should -Be 1
        }

        It 'takes versions from Get-EncryptionKey on the pipeline and removes them in one change' {
            $path = New-TestKeyFile
            $null = Invoke-KeyRotation -Path $path -NewVersion old1 -Inactive
            $null = Invoke-KeyRotation -Path $path -NewVersion old2 -Inactive
            Get-BackupFiles $path | Remove-Item -Force
            Get-EncryptionKey -Path $path -Version 'old*' | Remove-EncryptionKey -Force
            (Get-EncryptionKey -Path $path).Version | Should -Be 'v1'
            @(Get-BackupFiles $path).Count | Should -Be 1
        }
    }

    Context '-WhatIf' {
        It 'changes nothing on disk' {
            $folder = New-TestFolder
            $path = New-ThreeVersionFile -Folder $folder
            $before = Get-FileHashString $folder
            Remove-EncryptionKey -Path $path -Version v1 -WhatIf
            Remove-EncryptionKey -Path $path -Version v1, v3 -Force -WhatIf
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'per-environment files' {
        It 'removes a version piped from Get-EncryptionKey -Environment when -Environment is given again' {
            $folder = New-TestFolder
            $base = Join-Path $folder 'app.env'
            $null = Move-Item (New-ThreeVersionFile -Folder $folder) "$base.production" -PassThru
            Get-EncryptionKey -Path $base -Environment production -Version v1 |
                Remove-EncryptionKey -Environment production -Force
            (Get-EncryptionKey -Path $base -Environment production).Version | Should -Be @('v2', 'v3')
            Test-Path "$base.production.production" | Should -BeFalse
        }

        It 'applies -Environment to a piped Path of the base file, and to a -Path given on the command line' {
            $folder = New-TestFolder
            $base = Join-Path $folder 'app.env'
            $null = Move-Item (New-ThreeVersionFile -Folder $folder) "$base.production" -PassThru
            $null = New-EncryptionConfig -Path $base -WarningAction SilentlyContinue
            Get-EncryptionKey -Path $base | Remove-EncryptionKey -Environment production -Force
            (Get-EncryptionKey -Path $base -Environment production).Version | Should -Be @('v2', 'v3')
            (Get-EncryptionKey -Path $base).Version | Should -Be @('v1')
            $err = { Remove-EncryptionKey -Path "$base.production" -Environment production -Version v3 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
        }
    }

    Context 'errors' {
        BeforeEach {
            $folder = New-TestFolder
            $path = New-ThreeVersionFile -Folder $folder
            $before = Get-FileHashString $folder
        }

        It 'refuses to remove the active version (ActiveVersionRemoval, InvalidOperation) and changes nothing' {
            $err = { Remove-EncryptionKey -Path $path -Version v2 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ActiveVersionRemoval' 'InvalidOperation'
            $err.Exception.Message | Should -Match 'Set-ActiveEncryptionKey'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'removes nothing when the active version is among several named' {
            $err = { Remove-EncryptionKey -Path $path -Version v1, v2, v3 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ActiveVersionRemoval' 'InvalidOperation'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses the active version even under -WhatIf, before asking anything' {
            $err = { Remove-EncryptionKey -Path $path -Version v2 -WhatIf -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'ActiveVersionRemoval' 'InvalidOperation'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses a version that is not in the file (KeyVersionNotFound, ObjectNotFound) and changes nothing' {
            $err = { Remove-EncryptionKey -Path $path -Version v1, v9 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyVersionNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses the version name <Name> (VersionNameInvalid, InvalidArgument) and changes nothing' -ForEach @(
            @{ Name = 'with a colon'; Value = 'v1:x' }
            @{ Name = 'with a space'; Value = 'v 1' }
            @{ Name = 'of 33 characters'; Value = ('v' * 33) }
        ) {
            $err = { Remove-EncryptionKey -Path $path -Version $Value -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'VersionNameInvalid' 'InvalidArgument'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses a version that comes from the environment (VersionFromEnvironment) and changes nothing, <Mode>' -ForEach @(
            @{ Mode = 'with -Force'; Switches = @{ Force = $true } }
            @{ Mode = 'under -WhatIf, before asking anything'; Switches = @{ WhatIf = $true } }
        ) {
            $saved = Save-KeyEnvironment
            try {
                $salt = Get-RandomBytes 16
                $env:ENCRYPTION_KEYS__e1 = [Convert]::ToBase64String((Get-RandomBytes 32))
                $env:ENCRYPTION_SALT__e1 = [Convert]::ToBase64String($salt)
                $env:ENCRYPTION_SALT_HASH__e1 = Get-Sha256Hex $salt
                $err = { Remove-EncryptionKey -Path $path -Version e1 @Switches -ErrorAction Stop } | Should -Throw -PassThru
                Assert-SecretsPSError $err 'VersionFromEnvironment' 'InvalidOperation'
            }
            finally { Restore-KeyEnvironment $saved }
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses the file''s own active version when the environment activates another, under -WhatIf, before asking anything' {
            $saved = Save-KeyEnvironment
            try {
                $env:ACTIVE_ENCRYPTION_VERSION = 'v3'
                $err = { Remove-EncryptionKey -Path $path -Version v2 -WhatIf -ErrorAction Stop } | Should -Throw -PassThru
                Assert-SecretsPSError $err 'ActiveVersionRemoval' 'InvalidOperation'
            }
            finally { Restore-KeyEnvironment $saved }
            Get-FileHashString $folder | Should -Be $before
        }

        It 'fails with KeyFileNotFound (ObjectNotFound) for a missing file and creates nothing' {
            $err = { Remove-EncryptionKey -Path (Join-Path $folder 'missing.env') -Version v1 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
            Get-FileHashString $folder | Should -Be $before
        }

        It 'refuses to change a key file with <Problem> (<Category>) and changes nothing' -ForEach $damagedCases {
            $damaged = Write-DamagedKeyFile -Path (Join-Path $folder 'damaged.env') -Problem $Problem
            $snapshot = Get-FileHashString $folder
            $err = { Remove-EncryptionKey -Path $damaged -Version v1 -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err $Problem $Category
            Get-FileHashString $folder | Should -Be $snapshot
        }
    }
}
