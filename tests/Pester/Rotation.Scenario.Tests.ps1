BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'

    function Assert-AllDecrypt {
        param([string] $Path, [hashtable] $Values)
        foreach ($stored in $Values.Keys) {
            Unprotect-EncryptedValue -Path $Path -Value $stored | Should -BeExactly $Values[$stored] -Because "every value ever produced must still decrypt ($($stored.Substring(0, 3))…)"
        }
    }

    function New-EnvVersion {
        # Sets ENCRYPTION_KEYS/SALT/SALT_HASH__<v> in the environment; returns nothing.
        param([string] $Version)
        $salt = Get-RandomBytes 16
        Set-Item "Env:ENCRYPTION_KEYS__$Version" ([Convert]::ToBase64String((Get-RandomBytes 32)))
        Set-Item "Env:ENCRYPTION_SALT__$Version" ([Convert]::ToBase64String($salt))
        Set-Item "Env:ENCRYPTION_SALT_HASH__$Version" (Get-Sha256Hex $salt)
    }
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'Two-phase key rotation' {
    BeforeAll {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $produced = @{}
        foreach ($text in 'alpha', 'beta', 'gama ção') {
            $produced[(Protect-EncryptedValue -Path $path -Value $text)] = $text
        }
    }

    It 'starts with values protected with v1' {
        $produced.Keys | ForEach-Object { $_ | Should -BeLike 'v1:*' }
        Assert-AllDecrypt $path $produced
    }

    It 'phase 1: Invoke-KeyRotation -Inactive adds v2 while v1 stays active' {
        $null = Invoke-KeyRotation -Path $path -Inactive
        $list = Get-EncryptionKey -Path $path
        $list.Version | Should -Be @('v1', 'v2')
        ($list | Where-Object IsActive).Version | Should -Be 'v1'
    }

    It 'phase 1: new values still use v1, a value made with v2 decrypts, and so do all the old ones' {
        $v = Protect-EncryptedValue -Path $path -Value 'made in phase 1'
        $v | Should -BeLike 'v1:*'
        $produced[$v] = 'made in phase 1'
        $w = Protect-EncryptedValue -Path $path -Value 'made with v2 early' -Version v2
        $w | Should -BeLike 'v2:*'
        $produced[$w] = 'made with v2 early'
        Assert-AllDecrypt $path $produced
    }

    It 'phase 2: Set-ActiveEncryptionKey -Version v2 promotes v2; new values are v2:' {
        Set-ActiveEncryptionKey -Path $path -Version v2
        (Get-EncryptionKey -Path $path | Where-Object IsActive).Version | Should -Be 'v2'
        $v = Protect-EncryptedValue -Path $path -Value 'made in phase 2'
        $v | Should -BeLike 'v2:*'
        $produced[$v] = 'made in phase 2'
        Assert-AllDecrypt $path $produced
    }

    It 'rollback: Set-ActiveEncryptionKey -Version v1 re-activates v1; new values are v1: again' {
        Set-ActiveEncryptionKey -Path $path -Version v1
        (Get-EncryptionKey -Path $path | Where-Object IsActive).Version | Should -Be 'v1'
        $v = Protect-EncryptedValue -Path $path -Value 'made after the rollback'
        $v | Should -BeLike 'v1:*'
        $produced[$v] = 'made after the rollback'
        Assert-AllDecrypt $path $produced
    }

    It 'a direct rotation afterwards (v3, active at once) still decrypts everything' {
        $null = Invoke-KeyRotation -Path $path -WarningAction SilentlyContinue
        $v = Protect-EncryptedValue -Path $path -Value 'made with v3'
        $v | Should -BeLike 'v3:*'
        $produced[$v] = 'made with v3'
        Assert-AllDecrypt $path $produced
    }

    It 'made one backup per change, each a valid key file' {
        $backups = @(Get-BackupFiles $path)
        $backups.Count | Should -Be 4
        $backups | ForEach-Object { Test-EncryptionConfig -Path $_.FullName -WarningAction SilentlyContinue | Should -BeTrue }
    }
}

Describe 'Invoke-KeyRotation -NoPersist (lines for a secret store)' {
    BeforeAll {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $old = Protect-EncryptedValue -Path $path -Value 'old value'
        $before = Get-FileHashString $folder
        $lines = @(Invoke-KeyRotation -Path $path -NoPersist)
    }

    AfterEach {
        Restore-KeyEnvironment $script:savedEnvironment
        Clear-KeyEnvironment
    }

    It 'writes nothing: no change to the file, no backup, no temporary file' {
        Get-FileHashString $folder | Should -Be $before
    }

    It 'emits NAME="value" lines: the active version and the five lines of v2' {
        ($lines | ForEach-Object { ($_ -split '=', 2)[0] }) | Should -Be @('ACTIVE_ENCRYPTION_VERSION', 'ENCRYPTION_KEYS__v2', 'ENCRYPTION_SALT__v2', 'ENCRYPTION_SALT_HASH__v2', 'ENCRYPTION_KDF__v2', 'ENCRYPTION_CREATED__v2')
        $lines[0] | Should -BeExactly 'ACTIVE_ENCRYPTION_VERSION="v2"'
        $values = @{}
        foreach ($l in $lines) { if ($l -match '^([A-Z_]+__v2)="(.*)"$') { $values[$Matches[1]] = $Matches[2] } }
        $values['ENCRYPTION_SALT_HASH__v2'] | Should -BeExactly (Get-Sha256Hex ([Convert]::FromBase64String($values['ENCRYPTION_SALT__v2'])))
        [Convert]::FromBase64String($values['ENCRYPTION_KEYS__v2']).Length | Should -Be 32
    }

    It 'gives lines that work when set in the environment: v2 is listed from the Environment and encrypts' {
        foreach ($l in $lines) {
            if ($l -match '^([A-Z_]+(?:__v2)?)="(.*)"$') { Set-Item "Env:$($Matches[1])" $Matches[2] }
        }
        $v2 = Get-EncryptionKey -Path $path -Version v2
        $v2.Source.ToString() | Should -Be 'Environment'
        $v2.IsActive | Should -BeTrue
        $new = Protect-EncryptedValue -Path $path -Value 'new value'
        $new | Should -BeLike 'v2:*'
        Unprotect-EncryptedValue -Path $path -Value $new | Should -BeExactly 'new value'
        Unprotect-EncryptedValue -Path $path -Value $old | Should -BeExactly 'old value'
        Get-FileHashString $folder | Should -Be $before
    }
}

Describe 'Per-environment key files (-Environment)' {
    BeforeAll {
        $folder = New-TestFolder
        Push-Location $folder
        $default = New-EncryptionConfig -WarningAction SilentlyContinue
        $production = New-EncryptionConfig -Environment production -Version p1 -WarningAction SilentlyContinue
        Pop-Location
    }

    It 'New-EncryptionConfig -Environment production writes .env.crypto.production beside .env.crypto' {
        $production.Path | Should -Be (Join-Path $folder '.env.crypto.production')
        Test-Path -LiteralPath (Join-Path $folder '.env.crypto') | Should -BeTrue
    }

    It 'every cmdlet reads .env.crypto.production with -Environment production' {
        Push-Location $folder
        try {
            (Get-EncryptionKey -Environment production).Version | Should -Be 'p1'
            (Get-EncryptionKey).Version | Should -Be 'v1'
            $v = Protect-EncryptedValue -Environment production -Value 'prod'
            $v | Should -BeLike 'p1:*'
            Unprotect-EncryptedValue -Environment production -Value $v | Should -BeExactly 'prod'
            $null = Invoke-KeyRotation -Environment production -Inactive -NewVersion p2
            (Get-EncryptionKey -Environment production).Version | Should -Be @('p1', 'p2')
            (Get-EncryptionKey).Version | Should -Be 'v1'
            Test-EncryptionConfig -Environment production | Should -BeTrue
        }
        finally { Pop-Location }
    }

    It 'applies -Environment to an explicit -Path too' {
        (Get-EncryptionKey -Path (Join-Path $folder '.env.crypto') -Environment production).Path | Select-Object -Unique | Should -Be (Join-Path $folder '.env.crypto.production')
    }

    It 'fails with KeyFileNotFound for an environment that has no file, naming the file it looked for' {
        Push-Location $folder
        try { $err = { Get-EncryptionKey -Environment staging -ErrorAction Stop } | Should -Throw -PassThru }
        finally { Pop-Location }
        Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
        $err.Exception.Message | Should -Match '\.env\.crypto\.staging'
    }
}

Describe 'Key file resolution' {
    BeforeEach {
        $folder = New-TestFolder
    }

    AfterEach {
        Restore-KeyEnvironment $script:savedEnvironment
        Clear-KeyEnvironment
    }

    It 'uses ./.env.crypto when -Path and $env:SECRETSPS_CONFIG are absent' {
        $path = New-TestKeyFile -Folder $folder
        Push-Location $folder
        try { (Get-EncryptionKey).Path | Should -Be $path }
        finally { Pop-Location }
    }

    It 'falls back to ./instance/.env.crypto' {
        $path = New-TestKeyFile -Folder (Join-Path $folder 'instance')
        Push-Location $folder
        try {
            (Get-EncryptionKey).Path | Should -Be $path
            Protect-EncryptedValue -Value 'x' | Should -BeLike 'v1:*'
        }
        finally { Pop-Location }
    }

    It 'prefers ./.env.crypto over ./instance/.env.crypto' {
        $top = New-TestKeyFile -Folder $folder -Version top
        $null = New-TestKeyFile -Folder (Join-Path $folder 'instance') -Version inst
        Push-Location $folder
        try { (Get-EncryptionKey).Version | Should -Be 'top' }
        finally { Pop-Location }
    }

    It 'prefers $env:SECRETSPS_CONFIG over ./.env.crypto' {
        $null = New-TestKeyFile -Folder $folder -Version local
        $elsewhere = New-TestKeyFile -Version fromenv
        $env:SECRETSPS_CONFIG = $elsewhere
        Push-Location $folder
        try { (Get-EncryptionKey).Path | Should -Be $elsewhere }
        finally { Pop-Location }
    }

    It 'prefers -Path over $env:SECRETSPS_CONFIG' {
        $explicit = New-TestKeyFile -Folder $folder -Version explicit
        $env:SECRETSPS_CONFIG = New-TestKeyFile -Version fromenv
        (Get-EncryptionKey -Path $explicit).Version | Should -Be 'explicit'
    }

    It 'reports KeyFileNotFound for a $env:SECRETSPS_CONFIG that names a missing file, without falling back' {
        $null = New-TestKeyFile -Folder $folder
        $env:SECRETSPS_CONFIG = Join-Path $folder 'missing.env'
        Push-Location $folder
        try { $err = { Get-EncryptionKey -ErrorAction Stop } | Should -Throw -PassThru }
        finally { Pop-Location }
        Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
    }

    It 'New-EncryptionConfig without -Path creates the file $env:SECRETSPS_CONFIG names' {
        $target = Join-Path $folder 'configured.env'
        $env:SECRETSPS_CONFIG = $target
        $null = New-EncryptionConfig -WarningAction SilentlyContinue
        Test-Path -LiteralPath $target | Should -BeTrue
    }
}

Describe 'The environment overlays the key file' {
    BeforeAll {
        $folder = New-TestFolder
        $path = New-TestKeyFile -Folder $folder
        $fileValue = Protect-EncryptedValue -Path $path -Value 'from the file key'
        $before = Get-FileHashString $folder
    }

    AfterEach {
        Restore-KeyEnvironment $script:savedEnvironment
        Clear-KeyEnvironment
    }

    It 'lists a version defined only in the environment with Source Environment' {
        New-EnvVersion v9
        $list = Get-EncryptionKey -Path $path
        $list.Version | Should -Contain 'v9'
        ($list | Where-Object Version -EQ 'v9').Source.ToString() | Should -Be 'Environment'
        ($list | Where-Object Version -EQ 'v9').IsActive | Should -BeFalse
        ($list | Where-Object Version -EQ 'v1').Source.ToString() | Should -Be 'File'
        $v = Protect-EncryptedValue -Path $path -Value 'env key' -Version v9
        Unprotect-EncryptedValue -Path $path -Value $v | Should -BeExactly 'env key'
    }

    It 'lets $env:ACTIVE_ENCRYPTION_VERSION override the active version of the file' {
        New-EnvVersion v9
        $env:ACTIVE_ENCRYPTION_VERSION = 'v9'
        (Get-EncryptionKey -Path $path | Where-Object IsActive).Version | Should -Be 'v9'
        $v = Protect-EncryptedValue -Path $path -Value 'to v9'
        $v | Should -BeLike 'v9:*'
        Unprotect-EncryptedValue -Path $path -Value $v | Should -BeExactly 'to v9'
        Unprotect-EncryptedValue -Path $path -Value $fileValue | Should -BeExactly 'from the file key'
    }

    It 'lets an environment variable override one value of a file version (the environment wins)' {
        $env:ENCRYPTION_SALT_HASH__v1 = '0' * 64
        $err = { Protect-EncryptedValue -Path $path -Value 'x' -ErrorAction Stop } | Should -Throw -PassThru
        Assert-SecretsPSError $err 'SaltIntegrityCheckFailed' 'SecurityError'
    }

    It 'refuses to rotate to a name the environment already defines (KeyVersionExists)' {
        New-EnvVersion v2
        $err = { Invoke-KeyRotation -Path $path -NewVersion v2 -Force -ErrorAction Stop } | Should -Throw -PassThru
        Assert-SecretsPSError $err 'KeyVersionExists' 'ResourceExists'
    }

    It 'changed nothing on disk' {
        Get-FileHashString $folder | Should -Be $before
    }
}
