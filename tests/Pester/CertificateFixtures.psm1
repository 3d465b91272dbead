# Recovery certificates for the encrypted-backup tests, made as an operator makes one: openssl, RSA 2048, with the usages
# Protect-CmsMessage requires (Key Encipherment, Document Encryption). Dates openssl 3.0 cannot set (an expired
# certificate) are made with .NET.

function New-TestCertificate {
    <# Makes <Name>.cer (PEM) and <Name>.key (PKCS#8, unencrypted) in the folder; returns { Certificate; Key; Pem (both) }. #>
    param(
        [Parameter(Mandatory)][string] $Folder,
        [Parameter(Mandatory)][string] $Name,
        [string] $Extensions = "keyUsage=critical,keyEncipherment,dataEncipherment`nextendedKeyUsage=1.3.6.1.4.1.311.80.1`n"
    )
    $config = Join-Path $Folder "$Name.cnf"
    Set-Content -LiteralPath $config -Value "[req]`ndistinguished_name=dn`n[dn]`n[ext]`n$Extensions" -NoNewline
    $cer = Join-Path $Folder "$Name.cer"
    $key = Join-Path $Folder "$Name.key"
    $out = & openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$Name" -keyout $key -out $cer -config $config -extensions ext 2>&1
    if ($LASTEXITCODE -ne 0) { throw "openssl failed: $out" }
    $pem = Join-Path $Folder "$Name.pem"
    Set-Content -LiteralPath $pem -Value ((Get-Content -Raw $cer) + (Get-Content -Raw $key)) -NoNewline
    [pscustomobject]@{ Certificate = $cer; Key = $key; Pem = $pem }
}

function Get-TestCertificateWithKey {
    param([Parameter(Mandatory)] $Made)
    [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile($Made.Certificate, $Made.Key)
}

function New-DatedTestCertificate {
    <# A certificate fit for document encryption except, perhaps, for its dates. #>
    param([Parameter(Mandatory)][string] $Name, [Parameter(Mandatory)][DateTimeOffset] $NotBefore, [Parameter(Mandatory)][DateTimeOffset] $NotAfter)
    $rsa = [System.Security.Cryptography.RSA]::Create(2048)
    $request = [System.Security.Cryptography.X509Certificates.CertificateRequest]::new("CN=$Name", $rsa,
        [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
    $request.CertificateExtensions.Add([System.Security.Cryptography.X509Certificates.X509KeyUsageExtension]::new('KeyEncipherment', $true))
    $oids = [System.Security.Cryptography.OidCollection]::new()
    $null = $oids.Add([System.Security.Cryptography.Oid]::new('1.3.6.1.4.1.311.80.1'))
    $request.CertificateExtensions.Add([System.Security.Cryptography.X509Certificates.X509EnhancedKeyUsageExtension]::new($oids, $false))
    $request.CreateSelfSigned($NotBefore, $NotAfter)
}

function Invoke-OpensslDecrypt {
    <# openssl cms -decrypt -inform PEM of the file with the key; returns the decrypted bytes (from a file beside it, removed). #>
    param([Parameter(Mandatory)][string] $Path, [Parameter(Mandatory)][string] $Key)
    $out = "$Path.openssl-out"
    try {
        $err = & openssl cms -decrypt -inform PEM -in $Path -inkey $Key -out $out 2>&1
        if ($LASTEXITCODE -ne 0) { throw "openssl cms -decrypt failed: $err" }
        [IO.File]::ReadAllBytes($out)
    }
    finally { Remove-Item -LiteralPath $out -Force -ErrorAction SilentlyContinue }
}

Export-ModuleMember -Function New-TestCertificate, Get-TestCertificateWithKey, New-DatedTestCertificate, Invoke-OpensslDecrypt
