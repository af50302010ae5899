using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Rpc;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>A gateway on real Kestrel whose gRPC port serves TLS with a certificate from configuration, and whose keys may send 2 calls, then 1/s.</summary>
public sealed class GrpcTransportFixture : IAsyncLifetime, IAsyncDisposable
{
    public const int Burst = 2;
    private readonly TestResources _resources = new();
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"sp-grpc-tls-{Guid.NewGuid():N}");

    public string ConnectionString { get; private set; } = "";
    public GatewayFactory Gateway { get; private set; } = null!;
    public X509Certificate2 Certificate { get; private set; } = null!;
    public Uri GrpcAddress { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ConnectionString = await _resources.CreateDatabaseAsync();
        var upstream = _resources.Add(await GrpcUpstream.StartAsync());
        var echo = _resources.Add(await EchoUpstream.StartAsync());

        // A self-signed certificate for localhost, as an operator's would be: a PFX file and its password in configuration.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var issued = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        Directory.CreateDirectory(_directory);
        string pfx = Path.Combine(_directory, "grpc.pfx");
        string password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        await File.WriteAllBytesAsync(pfx, issued.Export(X509ContentType.Pfx, password));
        Certificate = X509CertificateLoader.LoadCertificate(issued.Export(X509ContentType.Cert));

        Gateway = GatewayFactory.Create(ConnectionString, echo.Address, echo.Address, extra: new Dictionary<string, string?>
        {
            ["ReverseProxy:Clusters:scheduling-grpc:Destinations:default:Address"] = upstream.Address.ToString(),
            ["Kestrel:Endpoints:Http:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Grpc:Url"] = "https://127.0.0.1:0",
            ["Kestrel:Endpoints:Grpc:Protocols"] = "Http2",
            ["Kestrel:Endpoints:Grpc:Certificate:Path"] = pfx,
            ["Kestrel:Endpoints:Grpc:Certificate:Password"] = password,
            ["RateLimits:Burst"] = Burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RateLimits:RequestsPerSecond"] = "1",
        });
        Gateway.UseKestrel();
        Gateway.StartServer();
        var addresses = Gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        GrpcAddress = new Uri(addresses.Single(a => a.StartsWith("https://", StringComparison.Ordinal)));
    }

    /// <summary>A channel over TLS that trusts exactly the test's certificate.</summary>
    public GrpcChannel Channel()
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            certificate is not null && certificate.GetCertHashString() == Certificate.GetCertHashString();
        return GrpcChannel.ForAddress(GrpcAddress, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        Certificate.Dispose();
        await _resources.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());
}

/// <summary>The gateway's gRPC port as a deployment runs it: TLS by configuration, and the keys' rate limits as typed errors.</summary>
public sealed class GrpcPortTransportTests(GrpcTransportFixture fixture) : IClassFixture<GrpcTransportFixture>
{
    private static Metadata Bearer(string key) => new() { { "authorization", $"Bearer {key}" } };

    [Fact]
    public async Task The_gRPC_port_serves_TLS_with_the_configured_certificate_and_refuses_plaintext()
    {
        Assert.Equal("https", fixture.GrpcAddress.Scheme);
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);
        using var channel = fixture.Channel();
        string postId = $"post_{Guid.NewGuid():N}";
        Assert.Equal(postId, (await new Posts.PostsClient(channel).GetPostAsync(new GetPostRequest { PostId = postId }, Bearer(key.Key))).Id);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving,
            (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest())).Status);

        // The same port without TLS answers nothing a gRPC client can use. The server ends the failed handshake by closing
        // the connection, after writing bytes of the TLS layer's own: the client reports the close (Unavailable) or the
        // bytes it could not read as HTTP/2 (Internal), whichever it saw first (CI saw each).
        using var plaintext = GrpcChannel.ForAddress(new UriBuilder(fixture.GrpcAddress) { Scheme = "http" }.Uri);
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Posts.PostsClient(plaintext).GetPostAsync(new GetPostRequest { PostId = postId }, Bearer(key.Key)));
        Assert.Contains(refused.StatusCode, new[] { StatusCode.Unavailable, StatusCode.Internal });
    }

    [Fact]
    public async Task Past_its_burst_a_key_is_RESOURCE_EXHAUSTED_with_RetryInfo_and_other_keys_go_on()
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);
        var other = await TestKeys.InsertAsync(fixture.ConnectionString, Roles.Viewer);
        using var channel = fixture.Channel();
        var posts = new Posts.PostsClient(channel);

        // Twice the burst at once: the burst (and what trickles back meanwhile) gets through, the rest is refused.
        var calls = Enumerable.Range(0, 2 * GrpcTransportFixture.Burst + 2)
            .Select(i => posts.GetPostAsync(new GetPostRequest { PostId = $"post_limited_{i}" }, Bearer(key.Key)).ResponseAsync)
            .ToList();
        var refusals = new List<RpcException>();
        foreach (var call in calls)
        {
            try
            {
                await call;
            }
            catch (RpcException error)
            {
                refusals.Add(error);
            }
        }

        Assert.NotEmpty(refusals);
        foreach (var refused in refusals)
        {
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
            var status = refused.GetRpcStatus();
            Assert.NotNull(status);
            Assert.Equal("RATE_LIMITED", status.GetDetail<ErrorInfo>()?.Reason);
            var retry = status.GetDetail<RetryInfo>();
            Assert.NotNull(retry);
            Assert.True(retry.RetryDelay.ToTimeSpan() >= TimeSpan.FromSeconds(1));
        }

        Assert.Equal("post_other", (await posts.GetPostAsync(new GetPostRequest { PostId = "post_other" }, Bearer(other.Key))).Id);
    }
}
