# The module's dependencies load in its own AssemblyLoadContext: a session that already holds other
# versions of Npgsql and Microsoft.Data.SqlClient (as dbatools, SqlServer or Az bring) keeps both working.
BeforeAll {
    $script:modulePath = if ($env:SECRETSPS_MODULE) { $env:SECRETSPS_MODULE } else { Join-Path $PSScriptRoot '../../out/SecretsPS/SecretsPS.psd1' }
    $packages = (dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', ''
    $script:otherNpgsql = Join-Path $packages.Trim() 'npgsql/9.0.4/lib/net8.0/Npgsql.dll'
    $script:otherSqlClient = Join-Path $packages.Trim() 'microsoft.data.sqlclient/6.1.1/runtimes/unix/lib/net8.0/Microsoft.Data.SqlClient.dll'
    $script:pwsh = [Environment]::ProcessPath
    $script:pwshArgs = @(if ([IO.Path]::GetFileNameWithoutExtension($pwsh) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
}

Describe 'Assembly isolation' {
    It 'Works in a session that already loaded other versions of Npgsql and Microsoft.Data.SqlClient, and leaves them working' {
        $otherNpgsql | Should -Exist
        $otherSqlClient | Should -Exist
        $folder = Join-Path ([IO.Path]::GetTempPath()) ("secretsps-iso-" + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $folder | Out-Null
        try {
            $script = @"
`$ErrorActionPreference = 'Stop'
# Another module's copies, loaded first into the default context.
Add-Type -Path '$otherNpgsql'
Add-Type -Path '$otherSqlClient'
`$theirNpgsql = [Npgsql.NpgsqlConnection].Assembly
`$theirSqlClient = [Microsoft.Data.SqlClient.SqlConnection].Assembly

Import-Module '$modulePath'
`$key = Join-Path '$folder' '.env.crypto'
New-EncryptionConfig -Path `$key -WarningAction SilentlyContinue | Out-Null
Invoke-KeyRotation -Path `$key -Confirm:`$false -WarningAction SilentlyContinue
`$stored = 'isolation ✓' | Protect-EncryptedValue -Path `$key
`$plain = `$stored | Unprotect-EncryptedValue -Path `$key

# SecretsPS's own copies, resolved in its context: Npgsql 8 and SqlClient's real platform build.
`$core = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'SecretsPS.Core' }
`$context = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$core)
`$ourNpgsql = `$context.LoadFromAssemblyName([Reflection.AssemblyName]::new('Npgsql'))
`$ourSqlClient = `$context.LoadFromAssemblyName([Reflection.AssemblyName]::new('Microsoft.Data.SqlClient'))
`$ourConnection = [Activator]::CreateInstance(`$ourSqlClient.GetType('Microsoft.Data.SqlClient.SqlConnection'), @('Server=127.0.0.1;Connect Timeout=1'))
`$ourBuilder = [Activator]::CreateInstance(`$ourNpgsql.GetType('Npgsql.NpgsqlConnectionStringBuilder'), @('Host=127.0.0.1;Port=5999'))

# Theirs still work after SecretsPS loaded.
`$theirConnection = [Microsoft.Data.SqlClient.SqlConnection]::new('Server=127.0.0.1;Connect Timeout=1')
`$theirBuilder = [Npgsql.NpgsqlConnectionStringBuilder]::new('Host=127.0.0.1;Port=5998')

[pscustomobject]@{
    Plain = `$plain
    CoreContext = `$context.Name
    TheirNpgsql = `$theirNpgsql.GetName().Version.Major
    OurNpgsql = `$ourNpgsql.GetName().Version.Major
    OurNpgsqlContext = [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$ourNpgsql).Name
    TheirSqlClient = `$theirSqlClient.GetName().Version.Major
    OurSqlClient = `$ourSqlClient.GetName().Version.Major
    OurSqlClientPath = `$ourSqlClient.Location
    OurConnectionState = `$ourConnection.State.ToString()
    OurPort = `$ourBuilder.Port
    TheirConnectionState = `$theirConnection.State.ToString()
    TheirPort = `$theirBuilder.Port
} | ConvertTo-Json -Compress
"@
            $output = & $pwsh @pwshArgs -NoProfile -NonInteractive -Command $script 2>&1
            $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
            $r = ($output | Select-Object -Last 1) | ConvertFrom-Json
            $r.Plain | Should -Be 'isolation ✓'
            $r.CoreContext | Should -Be 'SecretsPS'
            $r.OurNpgsqlContext | Should -Be 'SecretsPS'
            $r.TheirNpgsql | Should -Be 9
            $r.OurNpgsql | Should -Be 8
            $r.TheirSqlClient | Should -Not -Be $r.OurSqlClient
            $r.OurSqlClientPath | Should -Match ([regex]::Escape([IO.Path]::Combine('runtimes', 'unix', 'lib')))
            $r.OurConnectionState | Should -Be 'Closed'
            $r.TheirConnectionState | Should -Be 'Closed'
            $r.OurPort | Should -Be 5999
            $r.TheirPort | Should -Be 5998
        }
        finally {
            Remove-Item $folder -Recurse -Force -ErrorAction SilentlyContinue
        }
    }
}
