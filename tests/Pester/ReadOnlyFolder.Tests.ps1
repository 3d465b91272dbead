BeforeDiscovery {
    $writers = @(
        @{ Cmdlet = 'New-EncryptionConfig -Force' }
        @{ Cmdlet = 'Invoke-KeyRotation' }
        @{ Cmdlet = 'Set-ActiveEncryptionKey' }
        @{ Cmdlet = 'Remove-EncryptionKey' }
        @{ Cmdlet = 'Restore-EncryptionConfig' }
        @{ Cmdlet = 'Backup-EncryptionConfig' }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'

    # Tests run as root, and root ignores directory permissions: a folder is made read-only with the
    # immutable attribute (chattr +i), or by remounting a tmpfs read-only. Folders live outside TestDrive so
    # that they can be made writable again (and removed) in AfterAll whatever happens.
    $base = Join-Path ([IO.Path]::GetTempPath()) ('sps-readonly-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $null = New-Item -ItemType Directory -Path $base
    $elsewhere = New-Item -ItemType Directory -Path (Join-Path $base 'writable')

    $invoke = @{
        'New-EncryptionConfig -Force' = { param($p, $b) New-EncryptionConfig -Path $p -Force -ErrorAction Stop -WarningAction SilentlyContinue }
        'Invoke-KeyRotation'          = { param($p, $b) Invoke-KeyRotation -Path $p -Force -ErrorAction Stop -WarningAction SilentlyContinue }
        'Set-ActiveEncryptionKey'     = { param($p, $b) Set-ActiveEncryptionKey -Path $p -Version v2 -Force -ErrorAction Stop }
        'Remove-EncryptionKey'        = { param($p, $b) Remove-EncryptionKey -Path $p -Version v2 -Force -ErrorAction Stop }
        'Restore-EncryptionConfig'    = { param($p, $b) Restore-EncryptionConfig -Path $p -BackupPath $b -Force -ErrorAction Stop }
        'Backup-EncryptionConfig'     = { param($p, $b) Backup-EncryptionConfig -Path $p -ErrorAction Stop }
    }

    function New-KeyFileIn([string] $Folder) {
        # v1 active, v2 inactive; a valid backup (of v1 only) kept in a writable folder, for Restore.
        $path = New-TestKeyFile -Folder $Folder
        $backup = Join-Path $elsewhere ("backup-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        Copy-Item -LiteralPath $path -Destination $backup
        $null = Invoke-KeyRotation -Path $path -Inactive -NewVersion v2
        Get-BackupFiles $path | Remove-Item -Force
        return [pscustomobject]@{ Path = $path; Backup = $backup }
    }

    function Assert-WriteRefused {
        param($ErrorRecord, [string] $Folder, [string] $Snapshot)
        $ErrorRecord | Should -Not -BeNullOrEmpty -Because 'writing into a read-only folder must fail'
        $ErrorRecord.FullyQualifiedErrorId | Should -Match '^(KeyFileWriteFailed|BackupFailed)(,|$)' -Because "a read-only folder is a write failure ($($ErrorRecord.Exception.Message))"
        $ErrorRecord.CategoryInfo.Category.ToString() | Should -BeIn @('WriteError', 'PermissionDenied')
        Get-FileHashString $Folder | Should -Be $Snapshot -Because 'the old file stays byte-identical and no temporary or backup file is left'
    }

    # --- chattr +i ---
    $script:chattrSkip = Test-ChattrWorks
    $immutable = Join-Path $base 'immutable'
    $immutableNoLock = Join-Path $base 'immutable-nolock'
    if (-not $script:chattrSkip) {
        $null = New-Item -ItemType Directory -Path $immutable, $immutableNoLock
        $imm = New-KeyFileIn $immutable
        $immNoLock = New-KeyFileIn $immutableNoLock
        Remove-Item -LiteralPath "$($immNoLock.Path).lock" -Force
        $immSnapshot = Get-FileHashString $immutable
        $immNoLockSnapshot = Get-FileHashString $immutableNoLock
        & chattr +i $immutable $immutableNoLock
        $script:chattrApplied = $true
    }

    # --- read-only tmpfs ---
    $script:tmpfsSkip = $null
    $mounted = Join-Path $base 'tmpfs'
    $null = New-Item -ItemType Directory -Path $mounted
    if ($IsWindows) { $script:tmpfsSkip = 'tmpfs is Linux only' }
    else {
        $out = & mount -t tmpfs -o size=1m tmpfs $mounted 2>&1
        if ($LASTEXITCODE -ne 0) { $script:tmpfsSkip = "cannot mount a tmpfs here ($out)" }
        else {
            $script:tmpfsMounted = $true
            $ro = New-KeyFileIn $mounted
            $roSnapshot = Get-FileHashString $mounted
            $out = & mount -o remount,ro $mounted 2>&1
            if ($LASTEXITCODE -ne 0) { $script:tmpfsSkip = "cannot remount the tmpfs read-only ($out)" }
        }
    }
}

AfterAll {
    if ($script:chattrApplied) { & chattr -i $immutable $immutableNoLock 2>$null }
    if ($script:tmpfsMounted) { & umount $mounted 2>$null }
    if ($base) { Remove-Item -LiteralPath $base -Recurse -Force -ErrorAction SilentlyContinue }
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'A key file in a read-only folder' {

    Context 'immutable folder (chattr +i), lock file already there' {
        It '<Cmdlet> fails with a write error and leaves the folder byte-identical' -ForEach $writers {
            if ($script:chattrSkip) { Set-ItResult -Skipped -Because $script:chattrSkip; return }
            $err = Get-ErrorRecord { & $invoke[$Cmdlet] $imm.Path $imm.Backup }
            Assert-WriteRefused $err $immutable $immSnapshot
        }
    }

    Context 'immutable folder (chattr +i), no lock file yet' {
        It '<Cmdlet> fails with a write error and leaves the folder byte-identical' -ForEach $writers {
            if ($script:chattrSkip) { Set-ItResult -Skipped -Because $script:chattrSkip; return }
            $err = Get-ErrorRecord { & $invoke[$Cmdlet] $immNoLock.Path $immNoLock.Backup }
            Assert-WriteRefused $err $immutableNoLock $immNoLockSnapshot
        }

        It 'New-EncryptionConfig of a new file fails with KeyFileWriteFailed and creates nothing' {
            if ($script:chattrSkip) { Set-ItResult -Skipped -Because $script:chattrSkip; return }
            $err = Get-ErrorRecord { New-EncryptionConfig -Path (Join-Path $immutableNoLock 'new.env') -ErrorAction Stop }
            Assert-WriteRefused $err $immutableNoLock $immNoLockSnapshot
            Assert-SecretsPSError $err 'KeyFileWriteFailed'
        }
    }

    Context 'read-only file system (tmpfs remounted ro)' {
        It '<Cmdlet> fails with a write error (not "locked by another process, try again") and leaves the folder byte-identical' -ForEach $writers {
            if ($script:tmpfsSkip) { Set-ItResult -Skipped -Because $script:tmpfsSkip; return }
            $err = Get-ErrorRecord { & $invoke[$Cmdlet] $ro.Path $ro.Backup }
            Assert-WriteRefused $err $mounted $roSnapshot
        }

        It 'can still be read: listing, validation and decryption work' {
            if ($script:tmpfsSkip) { Set-ItResult -Skipped -Because $script:tmpfsSkip; return }
            (Get-EncryptionKey -Path $ro.Path).Version | Should -Be @('v1', 'v2')
            Test-EncryptionConfig -Path $ro.Path | Should -BeTrue
            Unprotect-EncryptedValue -Path $ro.Path -Value (Protect-EncryptedValue -Path $ro.Path -Value 'ro') | Should -BeExactly 'ro'
        }
    }
}
