package oauth

import (
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Register lists every route of the authorization server. fhir is the
// group mounted at the FHIR base (for its .well-known documents).
func (s *Server) Register(e *echo.Echo, fhir *echo.Group) {
	fhir.GET("/.well-known/smart-configuration", s.smartConfiguration)
	fhir.GET("/.well-known/openid-configuration", s.openidConfiguration)
	e.GET("/.well-known/openid-configuration", s.openidConfiguration)

	// OAuth requests are small forms: 64 KiB is plenty (client
	// assertions included).
	o := e.Group("/oauth", noStore, middleware.BodyLimit("64K"), clientAddress)
	o.GET("/authorize", s.authorize)
	o.POST("/authorize", s.authorize)
	o.POST("/token", s.token)
	o.POST("/introspect", s.introspect)
	o.POST("/revoke", s.revoke)
	o.GET("/jwks", s.jwksDoc)
	o.GET("/style.json", s.style)

	o.GET("/login", s.loginPage)
	o.POST("/login", s.loginPost)
	o.POST("/login/code", s.codePost)
	o.POST("/login/send-code", s.sendCodePost)
	o.POST("/login/recovery-code", s.recoveryInsteadPost)
	o.POST("/recovery-codes", s.newCodes)
	o.POST("/logout", s.logout)
	o.POST("/logout-everywhere", s.logoutEverywhere)
	o.GET("/signed-in", s.signedIn)
	o.GET("/flow/:id", s.flowStep)
	o.POST("/flow/:id", s.flowPost)
	o.GET("/ehr-launch", s.ehrLaunchPage)
	o.POST("/ehr-launch", s.ehrLaunch)
	o.GET("/access-report", s.accessReportPage)
	o.GET("/enroll", s.enrollPage)
	o.POST("/enroll", s.enrollPost)
	o.GET("/enroll-link", s.enrollLinkPage)
	o.POST("/enroll-link", s.enrollLinkPost)
	o.GET("/reset", s.resetPage)
	o.POST("/reset", s.resetPost)

	o.GET("/passkey.js", s.passkeyScript)
	o.POST("/passkey/login/options", s.passkeyLoginOptions)
	o.POST("/passkey/login", s.passkeyLogin)
	o.GET("/passkeys", s.passkeysPage)
	o.POST("/passkeys", s.passkeysNoScript)
	o.POST("/passkeys/options", s.passkeyRegisterOptions)
	o.POST("/passkeys/register", s.passkeyRegister)
	o.POST("/passkeys/rename", s.passkeyRename)
	o.POST("/passkeys/remove", s.passkeyRemove)
	o.GET("/devices", s.devicesPage)
	o.POST("/devices/revoke", s.devicesRevoke)
}
