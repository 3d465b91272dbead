BeforeDiscovery {
    $cmdlets = @(
        'New-EncryptionConfig', 'Get-EncryptionKey', 'Invoke-KeyRotation', 'Set-ActiveEncryptionKey', 'Test-EncryptionConfig',
        'Backup-EncryptionConfig', 'Restore-EncryptionConfig', 'Remove-EncryptionKey', 'Protect-EncryptedValue', 'Unprotect-EncryptedValue'
    ) | ForEach-Object { @{ Cmdlet = $_ } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'

    # FORMATS.md §6: yyyy-MM-dd HH:mm:ss,fff - <logger> - <LEVEL> - <message>
    $linePattern = '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - SecretsPS\.Commands\.\w+ - (DEBUG|INFO|WARNING|ERROR) - '

    # One typical call of each cmdlet against the key file $p, logging to $log.
    $invoke = @{
        'New-EncryptionConfig'     = { param($p, $log) $null = New-EncryptionConfig -Path "$p.new" -LogFile $log -WarningAction SilentlyContinue }
        'Get-EncryptionKey'        = { param($p, $log) $null = Get-EncryptionKey -Path $p -LogFile $log }
        'Invoke-KeyRotation'       = { param($p, $log) $null = Invoke-KeyRotation -Path $p -LogFile $log -WarningAction SilentlyContinue }
        'Set-ActiveEncryptionKey'  = { param($p, $log) $null = Invoke-KeyRotation -Path $p -Inactive -NewVersion next; Set-ActiveEncryptionKey -Path $p -Version next -LogFile $log }
        'Test-EncryptionConfig'    = { param($p, $log) $null = Test-EncryptionConfig -Path $p -LogFile $log }
        'Backup-EncryptionConfig'  = { param($p, $log) $null = Backup-EncryptionConfig -Path $p -LogFile $log }
        'Restore-EncryptionConfig' = { param($p, $log) $b = Backup-EncryptionConfig -Path $p; Restore-EncryptionConfig -Path $p -BackupPath $b.FullName -Force -LogFile $log }
        'Remove-EncryptionKey'     = { param($p, $log) $null = Invoke-KeyRotation -Path $p -Inactive -NewVersion gone; Remove-EncryptionKey -Path $p -Version gone -Force -LogFile $log }
        'Protect-EncryptedValue'   = { param($p, $log) $null = Protect-EncryptedValue -Path $p -Value 'x' -LogFile $log }
        'Unprotect-EncryptedValue' = { param($p, $log) $v = Protect-EncryptedValue -Path $p -Value 'x'; $null = Unprotect-EncryptedValue -Path $p -Value $v -LogFile $log }
    }

    function Assert-LogFile {
        param([string] $Log, [string] $Cmdlet)
        Test-Path -LiteralPath $Log | Should -BeTrue -Because "$Cmdlet -LogFile must write '$Log'"
        $lines = @(Get-Content -LiteralPath $Log)
        $lines.Count | Should -BeGreaterOrEqual 2
        $logger = 'SecretsPS.Commands.' + ($Cmdlet -replace '-', '')
        foreach ($l in $lines) {
            $l | Should -Match $linePattern
            $l | Should -BeLike "* - $logger - *"
        }
        $lines[0] | Should -BeLike "* - INFO - $Cmdlet started"
        $lines[-1] | Should -BeLike "* - INFO - $Cmdlet finished"
    }
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe '-LogFile' {

    Context 'a path' {
        It '<Cmdlet> -LogFile PATH appends lines in the FORMATS.md §6 layout, under its own logger name' -ForEach $cmdlets {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $log = Join-Path $folder 'logs/run.log'
            & $invoke[$Cmdlet] $path $log
            Assert-LogFile -Log $log -Cmdlet $Cmdlet
        }

        It 'resolves a relative -LogFile against the PowerShell location' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            Push-Location $folder
            try { $null = Get-EncryptionKey -Path $path -LogFile 'relative.log' }
            finally { Pop-Location }
            Test-Path -LiteralPath (Join-Path $folder 'relative.log') | Should -BeTrue
        }

        It 'accepts a PowerShell drive path such as SPSLOG:/run.log, as -Path does' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder (Join-Path $folder 'keys')
            $logFolder = New-TestFolder -Parent $folder
            $cwd = New-TestFolder -Parent $folder
            $null = New-PSDrive -Name SPSLOG -PSProvider FileSystem -Root $logFolder
            Push-Location $cwd
            try { $null = Get-EncryptionKey -Path $path -LogFile 'SPSLOG:/run.log' }
            finally { Pop-Location; Remove-PSDrive -Name SPSLOG }
            Get-FileHashString $cwd | Should -BeExactly '' -Because 'the log must not land in a folder named after the drive in the current folder'
            Test-Path -LiteralPath (Join-Path $logFolder 'run.log') | Should -BeTrue
        }

        It 'logs verbose lines as INFO, warnings as WARNING and errors as ERROR (with the ErrorId)' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $log = Join-Path $folder 'levels.log'
            $null = Invoke-KeyRotation -Path $path -LogFile $log -WarningAction SilentlyContinue
            $null = Protect-EncryptedValue -Path $path -Value '' -LogFile $log -ErrorAction SilentlyContinue
            $text = Get-Content -LiteralPath $log -Raw
            $text | Should -Match ' - SecretsPS\.Commands\.InvokeKeyRotation - INFO - Backed up the key file'
            $text | Should -Match ' - SecretsPS\.Commands\.InvokeKeyRotation - WARNING - Next: re-encrypt'
            $text | Should -Match ' - SecretsPS\.Commands\.ProtectEncryptedValue - ERROR - ValueEmpty\b'
        }

        It 'logs a terminating error before it ends the command' {
            $folder = New-TestFolder
            $log = Join-Path $folder 'error.log'
            { Get-EncryptionKey -Path (Join-Path $folder 'missing.env') -LogFile $log -ErrorAction Stop } | Should -Throw
            (Get-Content -LiteralPath $log -Raw) | Should -Match ' - ERROR - KeyFileNotFound'
        }

        It 'fails with LogFileUnwritable (WriteError) when the log cannot be created, and changes nothing' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
            $err = { Invoke-KeyRotation -Path $path -LogFile (Join-Path $path 'below-a-file.log') -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'LogFileUnwritable' 'WriteError'
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'an empty string' {
        It "<Cmdlet> -LogFile '' writes secrets_yyyyMMdd_HHmmss.log in the current folder" -ForEach $cmdlets {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder (Join-Path $folder 'keys')
            $cwd = New-TestFolder -Parent $folder
            Push-Location $cwd
            try { & $invoke[$Cmdlet] $path '' }
            finally { Pop-Location }
            $logs = @(Get-ChildItem -LiteralPath $cwd -Force)
            $logs.Count | Should -Be 1
            $logs[0].Name | Should -Match '^secrets_\d{8}_\d{6}\.log$'
            [DateTime]::ParseExact($logs[0].Name.Substring(8, 15), 'yyyyMMdd_HHmmss', $null) | Should -BeGreaterThan ([DateTime]::Now.AddMinutes(-2))
            Assert-LogFile -Log $logs[0].FullName -Cmdlet $Cmdlet
        }
    }
}
