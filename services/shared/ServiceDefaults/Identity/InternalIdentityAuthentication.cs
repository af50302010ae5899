using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// The authentication scheme of the services: the <see cref="InternalIdentity.Header"/> token, checked by
/// <see cref="InternalTokenValidator"/> against this request. No token or a refused one: 401 <c>UNAUTHENTICATED</c>
/// once authorization asks for a caller; an identity without the operation's scope: 403 <c>FORBIDDEN_SCOPE</c>.
/// </summary>
public sealed partial class InternalIdentityAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggerFactory, UrlEncoder encoder, InternalTokenValidator validator)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "Internal";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? token = Request.Headers[InternalIdentity.Header];
        if (string.IsNullOrEmpty(token))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        string path = Request.PathBase.Add(Request.Path).Value ?? "/";
        var verified = validator.Validate(token, Request.Method, path, out string? failure);
        if (verified is null)
        {
            // Why, never the token.
            LogRefused(Logger, Request.Method, path, failure!);
            return Task.FromResult(AuthenticateResult.Fail($"Internal identity refused: {failure}."));
        }

        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(InternalCaller.ToPrincipal(verified, SchemeName), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
        => ErrorEnvelope.Write(Context, StatusCodes.Status401Unauthorized, "UNAUTHENTICATED",
            "This service is only reachable through the gateway.");

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
        => ErrorEnvelope.Write(Context, StatusCodes.Status403Forbidden, "FORBIDDEN_SCOPE",
            "The caller's identity lacks the scope this operation needs.");

    [LoggerMessage(1, LogLevel.Warning, "Internal identity refused for {Method} {Path}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string method, string path, string reason);
}
